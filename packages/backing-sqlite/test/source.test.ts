import { readFileSync, writeFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { VsnapError } from "@vsnap/core";
import { afterAll, describe, expect, it } from "vitest";
import { sqliteSource } from "../src/index.js";
import { byteCompare, collect, kineInsert, replay, rowsOf, sha, tempDir, viewOf } from "./helpers/kine.js";
import { KINE_COMPACT, KINE_OLD_SCHEMA, KINE_REFERENCE_SCHEMA } from "./helpers/kine-statements.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const bytes = (text: string) => new Uint8Array(Buffer.from(text));

/** A kine database with every kind of history kine leaves behind. */
function historyDb(file: string, schema = KINE_REFERENCE_SCHEMA): DatabaseSync {
  const db = new DatabaseSync(file);
  db.exec(`PRAGMA journal_mode=WAL;\n${schema}`);
  kineInsert(db, "compact_rev_key", { created: true, value: new Uint8Array(0) });
  kineInsert(db, "/registry/health", { created: true, value: bytes('{"health":"true"}') });
  // created, updated twice
  let id = kineInsert(db, "/registry/pods/a/updated", { created: true, value: bytes("v1") });
  const created = id;
  id = kineInsert(db, "/registry/pods/a/updated", {
    createRevision: created,
    prevRevision: id,
    value: bytes("v2"),
  });
  kineInsert(db, "/registry/pods/a/updated", {
    createRevision: created,
    prevRevision: id,
    value: bytes("v3"),
  });
  // created then deleted
  id = kineInsert(db, "/registry/pods/a/deleted", { created: true, value: bytes("gone") });
  kineInsert(db, "/registry/pods/a/deleted", { deleted: true, prevRevision: id });
  // deleted and re-created
  id = kineInsert(db, "/registry/pods/a/recreated", { created: true, value: bytes("first") });
  id = kineInsert(db, "/registry/pods/a/recreated", { deleted: true, prevRevision: id });
  kineInsert(db, "/registry/pods/a/recreated", { created: true, prevRevision: id, value: bytes("second") });
  // binary values with every byte, an empty value, a NULL value
  kineInsert(db, "/registry/secrets/a/binary", {
    created: true,
    value: new Uint8Array(Array.from({ length: 512 }, (_, i) => i % 256)),
  });
  kineInsert(db, "/registry/configmaps/a/empty", { created: true, value: new Uint8Array(0) });
  kineInsert(db, "/registry/configmaps/a/null", { created: true, value: null });
  // sorting is by bytes: "é" (0xC3 0xA9) sorts after "z"; "-" before "/"
  for (const name of ["/registry/x/é", "/registry/x/z", "/registry/x-y/a", "/registry/x/a"])
    kineInsert(db, name, { created: true, value: bytes(name) });
  // outside the snapshot: vCluster's own metadata, kine bookkeeping, keys outside ["/", "0")
  kineInsert(db, "/vcluster/snapshot/request/v1beta1", { created: true, value: bytes("{}") });
  kineInsert(db, "0after", { created: true, value: bytes("x") });
  kineInsert(db, "registry/no-slash", { created: true, value: bytes("x") });
  // kept: vCluster's mapping store lives under "/"
  kineInsert(db, "/vcluster/mappings/a", { created: true, value: bytes("m") });
  // a fill row for a skipped revision
  const gap = Number(db.prepare("SELECT MAX(id) AS id FROM kine").get()!.id) + 1;
  db.prepare(
    "INSERT INTO kine(id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES(?, ?, 0, 1, 0, 0, 0, NULL, NULL)",
  ).run(gap, `gap-${gap}`);
  return db;
}

describe("sqliteSource", () => {
  it("reads kine's live view: latest row per name, deletions and bookkeeping excluded, byte order", async () => {
    const file = tmp.file("history.db");
    historyDb(file).close();
    const point = await sqliteSource(file, { pageSize: 3 }).open();
    try {
      const entries = await collect(point.entries());
      const keys = entries.map((e) => e.key);
      expect(keys).toEqual([
        "/registry/configmaps/a/empty",
        "/registry/configmaps/a/null",
        "/registry/health",
        "/registry/pods/a/recreated",
        "/registry/pods/a/updated",
        "/registry/secrets/a/binary",
        "/registry/x-y/a",
        "/registry/x/a",
        "/registry/x/z",
        "/registry/x/é",
        "/vcluster/mappings/a",
      ]);
      expect([...keys].sort(byteCompare)).toEqual(keys);
      expect(viewOf(entries)).toEqual(replay(rowsOf(file)));
      const byKey = new Map(entries.map((e) => [e.key, e.value]));
      expect(Buffer.from(byKey.get("/registry/pods/a/updated")!).toString()).toBe("v3");
      expect(Buffer.from(byKey.get("/registry/pods/a/recreated")!).toString()).toBe("second");
      expect([...byKey.get("/registry/secrets/a/binary")!]).toEqual(
        Array.from({ length: 512 }, (_, i) => i % 256),
      );
      expect(byKey.get("/registry/configmaps/a/null")!.length).toBe(0);
      // kine's revision: the highest id, the fill row included
      expect(point.revision).toBe(Math.max(...rowsOf(file).map((r) => r.id)));
      expect(point.totals).toEqual({
        keys: entries.length,
        bytes: entries.reduce((s, e) => s + e.value.length, 0),
      });
      expect(point.kind).toBe("sqlite");
      expect(point.mode).toBe("kv");
    } finally {
      await point.close();
    }
  });

  it("reads the same view after kine's compaction deleted superseded rows", async () => {
    const file = tmp.file("compacted.db");
    const db = historyDb(file);
    const before = replay(rowsOf(file));
    const current = Number(db.prepare("SELECT MAX(id) AS id FROM kine").get()!.id);
    const removed = db.prepare(KINE_COMPACT).run(current, current);
    db.prepare("UPDATE kine SET prev_revision = ? WHERE name = 'compact_rev_key'").run(current);
    db.close();
    expect(Number(removed.changes)).toBeGreaterThan(4);
    const point = await sqliteSource(file).open();
    try {
      expect(viewOf(await collect(point.entries()))).toEqual(before);
    } finally {
      await point.close();
    }
  });

  it("reads databases created by kine before v0.16.3 (name INTEGER)", async () => {
    const file = tmp.file("old-schema.db");
    historyDb(file, KINE_OLD_SCHEMA).close();
    const point = await sqliteSource(file).open();
    try {
      expect(viewOf(await collect(point.entries()))).toEqual(replay(rowsOf(file)));
    } finally {
      await point.close();
    }
  });

  it("can be read twice from one read point, and the entries stay the same", async () => {
    const file = tmp.file("twice.db");
    historyDb(file).close();
    const point = await sqliteSource(file).open();
    try {
      const first = await collect(point.entries());
      const second = await collect(point.entries());
      expect(viewOf(second)).toEqual(viewOf(first));
    } finally {
      await point.close();
    }
  });

  it("frees each page of values once read when the caller takes entries as transient, and only then", async () => {
    const file = tmp.file("transient.db");
    const db = new DatabaseSync(file);
    db.exec(`PRAGMA journal_mode=WAL;\n${KINE_REFERENCE_SCHEMA}`);
    const values = Array.from({ length: 2500 }, (_, i) => new Uint8Array(300 + (i % 7) * 1000).fill(i % 251));
    values.forEach((value, i) => {
      kineInsert(db, `/registry/pods/ns/p-${String(i).padStart(4, "0")}`, { created: true, value });
    });
    db.close();
    const point = await sqliteSource(file).open();
    try {
      const held: Uint8Array[] = [];
      for await (const { value } of point.entries(undefined, { transient: true })) {
        expect(Buffer.from(value).equals(values[held.length]!)).toBe(true); // intact while current
        held.push(value);
      }
      expect(held.length).toBe(values.length);
      expect(held.filter((v) => v.byteLength === 0).length).toBe(values.length);

      const kept: Uint8Array[] = [];
      for await (const { value } of point.entries()) kept.push(value);
      expect(kept.every((v, i) => Buffer.from(v).equals(values[i]!))).toBe(true);
    } finally {
      await point.close();
    }
  });

  it("stops with ABORTED when the signal fires mid-stream", async () => {
    const file = tmp.file("abort.db");
    const db = historyDb(file);
    db.exec("BEGIN");
    for (let i = 0; i < 2000; i++)
      kineInsert(db, `/registry/events/ns/e-${String(i).padStart(5, "0")}`, {
        created: true,
        value: bytes(`event ${i}`),
      });
    db.exec("COMMIT");
    db.close();
    const point = await sqliteSource(file, { pageSize: 100 }).open();
    const controller = new AbortController();
    let seen = 0;
    try {
      await expect(
        (async () => {
          for await (const _ of point.entries(controller.signal)) {
            if (++seen === 150) controller.abort();
          }
        })(),
      ).rejects.toSatisfy((error: unknown) => VsnapError.is(error, "ABORTED"));
      expect(seen).toBeLessThan(400);
    } finally {
      await point.close();
    }
  });

  it("reports a missing file, a non-SQLite file and a database without kine's table", async () => {
    await expect(sqliteSource(tmp.file("missing.db")).open()).rejects.toSatisfy((e: unknown) =>
      VsnapError.is(e, "NOT_FOUND"),
    );
    const junk = tmp.file("junk.db");
    writeFileSync(
      junk,
      "this is not a database, just some text that is long enough to look like a header ".repeat(100),
    );
    await expect(sqliteSource(junk).open()).rejects.toSatisfy((e: unknown) =>
      VsnapError.is(e, "INVALID_ARGUMENT"),
    );
    const other = tmp.file("other.db");
    const db = new DatabaseSync(other);
    db.exec("CREATE TABLE t(x)");
    db.close();
    await expect(sqliteSource(other).open()).rejects.toSatisfy((e: unknown) =>
      VsnapError.is(e, "FAILED_PRECONDITION"),
    );
  });

  it("never writes to the database it reads", async () => {
    const file = tmp.file("readonly.db");
    historyDb(file).close();
    const before = sha(new Uint8Array(readFileSync(file)));
    const point = await sqliteSource(file).open();
    await collect(point.entries());
    await point.close();
    expect(sha(new Uint8Array(readFileSync(file)))).toBe(before);
  });
});
