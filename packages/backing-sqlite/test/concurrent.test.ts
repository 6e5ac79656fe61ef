import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { generateDemoCluster } from "@vsnap/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createKineDatabase, sqliteSource } from "../src/index.js";
import { byteCompare, replay, rowsOf, sha, tempDir } from "./helpers/kine.js";

const tmp = tempDir();
const writerScript = fileURLToPath(new URL("./helpers/kine-writer.mjs", import.meta.url));
let writer: ChildProcess | undefined;

afterEach(() => {
  if (writer && writer.exitCode === null) writer.kill("SIGKILL");
  writer = undefined;
});
afterAll(() => tmp.cleanup());

function startWriter(file: string, journal: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = fork(writerScript, [file, journal, "7"], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`kine writer exited early (${code})`)));
    child.on("message", (message: { ready?: boolean }) => {
      if (message.ready) resolve(child);
    });
  });
}

function stopWriter(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.removeAllListeners("exit");
    child.on("message", (message: { done?: boolean; ops?: number }) => {
      if (message.done) resolve(message.ops ?? 0);
    });
    child.once("exit", (code) => code !== 0 && reject(new Error(`kine writer failed (${code})`)));
    child.send("stop");
  });
}

const currentRevision = (file: string) => {
  const db = new DatabaseSync(file);
  try {
    return Number(db.prepare("SELECT MAX(id) AS id FROM kine").get()!.id);
  } finally {
    db.close();
  }
};

describe("sqliteSource with another process writing", () => {
  it("streams exactly the live view at the pinned revision while kine writes, compacts and fills", async () => {
    const file = tmp.file("busy.db");
    const journalFile = tmp.file("journal.json");
    await createKineDatabase(file, generateDemoCluster({ keys: 3000, seed: 11, valueScale: 0.3 }));
    // the starting rows, replayed independently of the code under test
    const initialRows = rowsOf(file);

    writer = await startWriter(file, journalFile);
    const point = await sqliteSource(file, { pageSize: 64 }).open();
    const streamed: { key: string; value: Uint8Array }[] = [];
    let revisionWhileReading = 0;
    try {
      for await (const entry of point.entries()) {
        streamed.push(entry);
        // read slowly, so that the writer gets far ahead of the pinned revision
        if (streamed.length % 500 === 0) {
          await sleep(40);
          revisionWhileReading = currentRevision(file);
        }
      }
    } finally {
      await point.close();
    }
    const ops = await stopWriter(writer);
    const journal = JSON.parse(readFileSync(journalFile, "utf8")) as [
      number,
      string,
      number,
      string | null,
    ][];

    // the writer really ran during the read, and wrote past the pinned revision
    expect(ops).toBeGreaterThan(200);
    expect(revisionWhileReading).toBeGreaterThan(point.revision);
    expect(journal.some(([id]) => id <= point.revision)).toBe(true);
    expect(journal.some(([id]) => id > point.revision + 100)).toBe(true);

    // expected: initial rows + journaled changes with id <= pinned revision, folded in id order
    const expected = replay(initialRows, point.revision);
    const changes = journal.filter(([id]) => id <= point.revision).sort((a, b) => a[0] - b[0]);
    for (const [, name, deleted, valueSha] of changes) {
      if (!name.startsWith("/")) continue;
      if (deleted) expected.delete(name);
      else expected.set(name, valueSha!);
    }
    const sortedExpected = new Map([...expected].sort((a, b) => byteCompare(a[0], b[0])));
    const got = new Map(streamed.map((e) => [e.key, sha(e.value)]));
    expect([...got.keys()]).toEqual([...sortedExpected.keys()]);
    expect(got).toEqual(sortedExpected);
    expect(point.totals.keys).toBe(streamed.length);
  });
});
