import { DatabaseSync } from "node:sqlite";
import { generateDemoCluster, VsnapError } from "@vsnap/core";
import { afterAll, describe, expect, it } from "vitest";
import { createKineDatabase, sqliteSource } from "../src/index.js";
import { collect, replay, rowsOf, sqlite3, tempDir, viewOf } from "./helpers/kine.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const health = { key: "/registry/health", value: new Uint8Array(Buffer.from('{"health":"true"}')) };

describe("createKineDatabase", () => {
  it("writes the entries as the live view, with history rows that are no longer live", async () => {
    const file = tmp.file("demo.db");
    const entries = Array.from(generateDemoCluster({ keys: 6000, seed: 2 }));
    const info = await createKineDatabase(file, entries);
    const rows = rowsOf(file);
    expect(info.rows).toBe(rows.length);
    expect(info.revision).toBe(Math.max(...rows.map((r) => r.id)));
    expect(info.keys).toBe(6001); // plus kine's health key
    // history: updated, deleted, re-created and short-lived keys, and fill rows
    expect(rows.length).toBeGreaterThan(info.keys + 300);
    expect(rows.filter((r) => r.deleted === 1 && String(r.name).startsWith("/")).length).toBeGreaterThan(100);
    expect(rows.some((r) => String(r.name).startsWith("gap-"))).toBe(true);
    expect(rows.filter((r) => r.name === "compact_rev_key").length).toBe(1);
    // the live view is exactly the entries (+ health), computed independently by replaying rows
    expect(replay(rows)).toEqual(viewOf([...entries, health].sort((a, b) => (a.key < b.key ? -1 : 1))));
    expect(sqlite3(file, "PRAGMA integrity_check;").trim()).toBe("ok");
    // events carry kine's TTL lease (the apiserver's default event TTL)
    const leases = new DatabaseSync(file)
      .prepare("SELECT DISTINCT lease FROM kine WHERE name LIKE '/registry/events/%' AND deleted = 0")
      .all();
    expect(leases.map((r) => Number(r.lease))).toEqual([3600]);
    // and the source reads it back
    const point = await sqliteSource(file).open();
    try {
      expect(viewOf(await collect(point.entries()))).toEqual(replay(rows));
      expect(point.revision).toBe(info.revision);
    } finally {
      await point.close();
    }
  });

  it("compacts like kine when asked: fewer rows, same live view, compact revision recorded", async () => {
    const plain = tmp.file("plain.db");
    const compacted = tmp.file("compacted.db");
    const entries = Array.from(generateDemoCluster({ keys: 4000, seed: 3, valueScale: 0.1 }));
    const a = await createKineDatabase(plain, entries, { history: 0.2 });
    const b = await createKineDatabase(compacted, entries, { history: 0.2, compact: true });
    expect(b.rows).toBeLessThan(a.rows);
    expect(replay(rowsOf(compacted))).toEqual(replay(rowsOf(plain)));
    const compactRev = Number(
      sqlite3(compacted, "SELECT prev_revision FROM kine WHERE name = 'compact_rev_key';").trim(),
    );
    expect(compactRev).toBe(b.revision - 1000);
  });

  it("writes no history when history is 0, and refuses to overwrite unless asked", async () => {
    const file = tmp.file("flat.db");
    const info = await createKineDatabase(file, generateDemoCluster({ keys: 500, valueScale: 0.1 }), {
      history: 0,
    });
    expect(info.rows).toBe(502); // compact_rev_key + health + 500 keys
    await expect(createKineDatabase(file, [])).rejects.toSatisfy((e: unknown) =>
      VsnapError.is(e, "ALREADY_EXISTS"),
    );
    const again = await createKineDatabase(file, [], { overwrite: true, history: 0 });
    expect(again.keys).toBe(1);
  });
});
