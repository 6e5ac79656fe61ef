import { writeFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { KineWriterThread } from "../src/writer-thread.js";
import { tempDir } from "./helpers/kine.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe("KineWriterThread", () => {
  it("starts without waiting for the thread; a file it cannot open fails the first wait and finish", async () => {
    // a folder that does not exist: SQLite's open fails on the thread, after start has returned
    const writer = KineWriterThread.start(path.join(tmp.dir, "missing", "kine.db"), {
      rows: 1,
      bytes: 1 << 20,
    });
    writer.setSequence(1000);
    const value = new Uint8Array(16);
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 12; i++) {
      const wait = writer.add(`/registry/k${i}`, value);
      if (wait) waits.push(wait);
    }
    // twelve one-row batches were queued before the thread could answer anything
    expect(waits.length).toBe(12);
    const error = await Promise.all(waits).catch((e: unknown) => e);
    expect(String((error as Error).message)).toMatch(/unable to open database/);
    await expect(writer.finish()).rejects.toThrow(/unable to open database/);
    await writer.close();
  });

  it("lets up to eight messages wait while the thread boots, then two batches", async () => {
    const file = path.join(tmp.dir, "boot.db");
    writeFileSync(file, new Uint8Array(0));
    const writer = KineWriterThread.start(file, { rows: 1, bytes: 1 << 20 });
    writer.setSequence(1000);
    const settled: boolean[] = [];
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      const wait = writer.add(`/registry/k${i}`, Uint8Array.of(i))!;
      settled.push(false);
      void wait.then(() => (settled[i] = true));
      waits.push(wait);
    }
    // microtasks only: the thread cannot have answered yet, so only the allowance decides
    for (let i = 0; i < 5; i++) await Promise.resolve();
    // open + sequence + five one-row batches are seven; the sixth batch makes eight and waits
    expect(settled).toEqual([true, true, true, true, true, false, false, false, false, false]);
    await Promise.all(waits);
    await writer.finish();
    const db = new DatabaseSync(file);
    try {
      expect(db.prepare("SELECT COUNT(*) AS n FROM kine").get()!.n).toBe(10);
      expect(db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'kine'").get()!.seq).toBe(1010);
    } finally {
      db.close();
    }
  });
});
