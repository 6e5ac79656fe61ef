import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, watch, writeFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { generateDemoCluster, type KeyValue, markTransient, VsnapError } from "@vsnap/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createKineDatabase, sqliteSource, sqliteTarget } from "../src/index.js";
import { collect, replay, rowsOf, sha, sqlite3, tempDir, viewOf } from "./helpers/kine.js";

const tmp = tempDir();
let holder: ChildProcess | undefined;
afterEach(() => {
  if (holder && holder.exitCode === null) holder.kill("SIGKILL");
  holder = undefined;
});
afterAll(() => tmp.cleanup());

async function* from(entries: Iterable<KeyValue>): AsyncGenerator<KeyValue> {
  yield* entries;
}

const fileSha = (file: string) => sha(new Uint8Array(readFileSync(file)));

async function liveView(file: string) {
  const point = await sqliteSource(file).open();
  try {
    return { revision: point.revision, entries: await collect(point.entries()) };
  } finally {
    await point.close();
  }
}

function leftovers(): string[] {
  return readdirSync(tmp.dir).filter((name) => name.includes(".vsnap-restore-"));
}

function sequence(file: string): number {
  const db = new DatabaseSync(file);
  try {
    return Number(db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'kine'").get()!.seq);
  } finally {
    db.close();
  }
}

describe("sqliteTarget", () => {
  it("round-trips a cluster: restored live view == source live view, byte for byte", async () => {
    const source = tmp.file("source.db");
    await createKineDatabase(source, generateDemoCluster({ keys: 4000, seed: 21 }));
    const point = await sqliteSource(source).open();
    const target = tmp.file("restored.db");
    let progress = 0;
    const result = await sqliteTarget(target).restore(point.entries(), {
      revision: point.revision,
      onProgress: (keys) => (progress = keys),
    });
    const original = await collect(point.entries());
    await point.close();

    const restored = await liveView(target);
    expect(restored.entries.map((e) => e.key)).toEqual(original.map((e) => e.key));
    expect(viewOf(restored.entries)).toEqual(viewOf(original));
    for (let i = 0; i < original.length; i += 97)
      expect(Buffer.compare(restored.entries[i]!.value, original[i]!.value)).toBe(0);
    expect(result.keys).toBe(original.length);
    expect(result.bytes).toBe(original.reduce((sum, e) => sum + e.value.length, 0));
    expect(progress).toBe(original.length);
    // the sqlite3 CLI reads it, finds it intact, and sees the same live view (kine's own query)
    expect(sqlite3(target, "PRAGMA integrity_check;").trim()).toBe("ok");
    const cliCount = sqlite3(
      target,
      "SELECT COUNT(*) FROM kine k JOIN (SELECT MAX(id) AS id FROM kine WHERE name >= '/' AND name < '0' GROUP BY name) m USING (id) WHERE k.deleted = 0;",
    ).trim();
    expect(Number(cliCount)).toBe(original.length);
    expect(leftovers()).toEqual([]);
  });

  it("frees each value of a stream marked transient once copied, and leaves other streams' alone", async () => {
    const source = [...generateDemoCluster({ keys: 800, seed: 33 })];
    for (const transient of [true, false]) {
      // each value all of a buffer of its own, as an archive reader hands them out
      const entries = source.map(({ key, value }) => {
        const own = Buffer.allocUnsafeSlow(value.length);
        own.set(value);
        return { key, value: own };
      });
      const target = tmp.file(`transient-${transient}.db`);
      await sqliteTarget(target).restore(transient ? markTransient(from(entries)) : from(entries), {
        revision: 10,
      });
      const freed = entries.filter((e) => e.value.buffer.detached).length;
      expect(freed, `transient ${transient}`).toBe(transient ? entries.length : 0);
      // a value freed before it was copied into its batch would have been written empty
      const restored = new Map((await liveView(target)).entries.map((e) => [e.key, Buffer.from(e.value)]));
      expect(source.every(({ key, value }) => restored.get(key)?.equals(value))).toBe(true);
    }
  });

  it("writes rows as kine writes freshly created keys, and moves the revision past the snapshot's by 1000", async () => {
    const target = tmp.file("rows.db");
    const entries = [
      { key: "/registry/configmaps/a/one", value: new Uint8Array([0, 1, 2, 255]) },
      { key: "/registry/configmaps/a/two", value: new Uint8Array(0) },
      { key: "/vcluster/snapshot/revision", value: new Uint8Array(Buffer.from("4242")) }, // metadata: skipped
    ];
    const result = await sqliteTarget(target).restore(from(entries), { revision: 4242 });
    const rows = new DatabaseSync(target)
      .prepare(
        "SELECT id, name, created, deleted, create_revision, prev_revision, lease, value, old_value FROM kine ORDER BY id",
      )
      .all();
    expect(rows).toEqual(
      [
        {
          id: 5243,
          name: "compact_rev_key",
          created: 1,
          deleted: 0,
          create_revision: 0,
          prev_revision: 5242,
          lease: 0,
          value: new Uint8Array(0),
          old_value: null,
        },
        {
          id: 5244,
          name: "/registry/configmaps/a/one",
          created: 1,
          deleted: 0,
          create_revision: 0,
          prev_revision: 0,
          lease: 0,
          value: new Uint8Array([0, 1, 2, 255]),
          old_value: null,
        },
        {
          id: 5245,
          name: "/registry/configmaps/a/two",
          created: 1,
          deleted: 0,
          create_revision: 0,
          prev_revision: 0,
          lease: 0,
          value: new Uint8Array(0),
          old_value: null,
        },
      ].map((row) => expect.objectContaining(row)),
    );
    expect(result).toEqual({ keys: 2, bytes: 4, revision: 5245 });
    expect(sequence(target)).toBe(5245);
    expect((await liveView(target)).revision).toBe(5245);
  });

  it("refuses a target holding data without force, with a hint to use --force", async () => {
    const target = tmp.file("occupied.db");
    await createKineDatabase(target, generateDemoCluster({ keys: 100, valueScale: 0.1 }));
    const before = fileSha(target);
    const error = await sqliteTarget(target)
      .restore(from(generateDemoCluster({ keys: 10, seed: 2 })))
      .catch((e: unknown) => e);
    expect(VsnapError.is(error, "FAILED_PRECONDITION")).toBe(true);
    expect((error as VsnapError).hint).toContain("--force");
    expect(fileSha(target)).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it("with force replaces the data, and the revision also passes the old database's", async () => {
    const target = tmp.file("forced.db");
    const old = await createKineDatabase(target, generateDemoCluster({ keys: 3000, valueScale: 0.1 }));
    const incoming = Array.from(generateDemoCluster({ keys: 200, seed: 9, valueScale: 0.2 }));
    const result = await sqliteTarget(target, { force: true }).restore(from(incoming), { revision: 10 });
    expect(result.revision).toBe(old.revision + 1000 + 1 + incoming.length);
    const restored = await liveView(target);
    expect(viewOf(restored.entries)).toEqual(viewOf(incoming));
    expect(sqlite3(target, "PRAGMA integrity_check;").trim()).toBe("ok");
    // RestoreOptions.force works as well
    const again = await sqliteTarget(target).restore(from(incoming), { force: true });
    expect(again.revision).toBe(result.revision + 1000 + 1 + incoming.length);
  });

  it("never lets a stale WAL next to the target be replayed onto the restored database", async () => {
    // a valid WAL with committed, uncheckpointed frames of some other database
    const other = tmp.file("other.db");
    const db = new DatabaseSync(other);
    db.exec(
      "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE kine(id INTEGER PRIMARY KEY, name TEXT, value BLOB)",
    );
    db.exec("BEGIN");
    for (let i = 0; i < 300; i++)
      db.prepare("INSERT INTO kine(name, value) VALUES (?, ?)").run(
        `/registry/stale/${i}`,
        new Uint8Array(2000),
      );
    db.exec("COMMIT");
    const wal = readFileSync(`${other}-wal`);
    db.close();
    expect(wal.length).toBeGreaterThan(100_000);

    // the database file itself is gone (someone deleted state.db), its WAL was left behind
    const target = tmp.file("stale.db");
    writeFileSync(`${target}-wal`, wal);
    const incoming = Array.from(generateDemoCluster({ keys: 100, seed: 12, valueScale: 0.2 }));
    await sqliteTarget(target, { force: true }).restore(from(incoming));
    expect(sqlite3(target, "PRAGMA integrity_check;").trim()).toBe("ok");
    expect(viewOf((await liveView(target)).entries)).toEqual(viewOf(incoming));
  });

  it("accepts an empty kine database (a kine that only started) without force", async () => {
    const target = tmp.file("fresh.db");
    await createKineDatabase(target, [], { history: 0 });
    const result = await sqliteTarget(target).restore(
      from(generateDemoCluster({ keys: 20, valueScale: 0.1 })),
    );
    expect(result.keys).toBe(20);
  });

  it("an aborted restore leaves the old database exactly as it was and no temp files", async () => {
    const target = tmp.file("keep.db");
    await createKineDatabase(target, generateDemoCluster({ keys: 500, seed: 4, valueScale: 0.2 }));
    const before = fileSha(target);
    const viewBefore = viewOf((await liveView(target)).entries);
    const controller = new AbortController();
    async function* slow() {
      let n = 0;
      for (const entry of generateDemoCluster({ keys: 5000, seed: 5, valueScale: 0.2 })) {
        if (++n === 2500) controller.abort();
        yield entry;
      }
    }
    const error = await sqliteTarget(target, { force: true, batch: { rows: 500 } })
      .restore(slow(), { signal: controller.signal })
      .catch((e: unknown) => e);
    expect(VsnapError.is(error, "ABORTED")).toBe(true);
    expect(fileSha(target)).toBe(before);
    expect(viewOf((await liveView(target)).entries)).toEqual(viewBefore);
    expect(leftovers()).toEqual([]);
  });

  it("copies each value when it is added: a source may reuse its buffer, batches split by rows and bytes", async () => {
    const target = tmp.file("reused.db");
    // values below, at and far above the 4 KiB batch limit; names with multi-byte characters
    const sizes = [0, 1, 100, 4096 - 40, 4096, 9000, 3, 70_000, 17, 2048, 2048, 2048, 5];
    const expected = sizes.map((size, i) => ({
      key: `/registry/ünïcode/${String(i).padStart(3, "0")}-é`,
      value: Uint8Array.from({ length: size }, (_, j) => (i * 31 + j) % 251),
    }));
    // one buffer for every value, overwritten with garbage as soon as the target asked for the next
    const shared = new Uint8Array(70_000);
    async function* reusing() {
      for (const { key, value } of expected) {
        shared.set(value);
        yield { key, value: shared.subarray(0, value.length) };
        shared.fill(0xee);
      }
    }
    const result = await sqliteTarget(target, { batch: { rows: 4, bytes: 4096 } }).restore(reusing());
    expect(result.keys).toBe(expected.length);
    expect(viewOf((await liveView(target)).entries)).toEqual(viewOf(expected));
  });

  it("fills the new database without a rollback journal, as it says, and it comes out in WAL mode", async () => {
    const dir = mkdtempSync(path.join(tmp.dir, "journal-"));
    const target = path.join(dir, "kine.db");
    // every file name that appears in the folder while the restore runs (inotify, so none is missed)
    const seen = new Set<string>();
    const watcher = watch(dir, (_event, name) => {
      if (name) seen.add(String(name));
    });
    try {
      const entries = generateDemoCluster({ keys: 300, seed: 5 });
      // 30 transactions: with a journal each would create and delete one
      const result = await sqliteTarget(target, { batch: { rows: 10 } }).restore(from(entries));
      expect(result.keys).toBe(300);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      watcher.close();
    }
    const names = [...seen];
    expect(names.some((name) => name.includes(".vsnap-restore-"))).toBe(true);
    expect(names.filter((name) => name.endsWith("-journal"))).toEqual([]);
    const db = new DatabaseSync(target);
    try {
      expect(db.prepare("PRAGMA journal_mode").get()!.journal_mode).toBe("wal");
    } finally {
      db.close();
    }
  });

  it("a failing source leaves the old database intact too", async () => {
    const target = tmp.file("keep2.db");
    await createKineDatabase(target, generateDemoCluster({ keys: 300, valueScale: 0.2 }));
    const before = fileSha(target);
    async function* broken() {
      yield { key: "/registry/a", value: new Uint8Array(1) };
      throw new VsnapError("INTEGRITY", "archive truncated");
    }
    await expect(sqliteTarget(target, { force: true }).restore(broken())).rejects.toSatisfy((e: unknown) =>
      VsnapError.is(e, "INTEGRITY"),
    );
    expect(fileSha(target)).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it("rejects duplicate keys and keys outside '/'", async () => {
    const dup = [
      { key: "/registry/a", value: new Uint8Array(1) },
      { key: "/registry/a", value: new Uint8Array(2) },
    ];
    await expect(sqliteTarget(tmp.file("dup.db")).restore(from(dup))).rejects.toSatisfy((e: unknown) =>
      VsnapError.is(e, "INVALID_ARGUMENT"),
    );
    await expect(
      sqliteTarget(tmp.file("bad.db")).restore(from([{ key: "compact_rev_key", value: new Uint8Array(1) }])),
    ).rejects.toSatisfy((e: unknown) => VsnapError.is(e, "INVALID_ARGUMENT"));
    expect(leftovers()).toEqual([]);
  });

  it("refuses a target that another process (a running kine) has open, even with force", async () => {
    const target = tmp.file("busy.db");
    await createKineDatabase(target, generateDemoCluster({ keys: 50, valueScale: 0.1 }));
    holder = fork(fileURLToPath(new URL("./helpers/hold-open.mjs", import.meta.url)), [target], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    await new Promise((resolve) => holder!.once("message", resolve));
    const error = await sqliteTarget(target, { force: true })
      .restore(from(generateDemoCluster({ keys: 10 })))
      .catch((e: unknown) => e);
    expect(VsnapError.is(error, "FAILED_PRECONDITION")).toBe(true);
    expect((error as VsnapError).message).toContain("in use");
    expect(leftovers()).toEqual([]);
  });

  it("replaces a file that is not a database only with force", async () => {
    const target = tmp.file("notes.txt");
    writeFileSync(target, "not a database ".repeat(500));
    await expect(sqliteTarget(target).restore(from([]))).rejects.toSatisfy((e: unknown) =>
      VsnapError.is(e, "FAILED_PRECONDITION"),
    );
    await sqliteTarget(target, { force: true }).restore(
      from([{ key: "/registry/a", value: new Uint8Array([1]) }]),
    );
    expect(replay(rowsOf(target)).size).toBe(1);
  });
});
