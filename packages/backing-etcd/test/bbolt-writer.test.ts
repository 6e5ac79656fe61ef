import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  generateDemoCluster,
  type KeyValue,
  type KeyValueReadPoint,
  markTransient,
  VsnapError,
  writeArchive,
} from "@vsnap/core";
import { startEtcd } from "@vsnap/test-servers/etcd";
import { freePort } from "@vsnap/test-servers/ports";
import { afterAll, describe, expect, it } from "vitest";
import { openEtcdDatabase } from "../src/bbolt/etcd-db.js";
import { revisionKey, writeEtcdDatabase } from "../src/bbolt/etcd-db-writer.js";
import { BoltFile, findBucket, walkBucket } from "../src/bbolt/file.js";
import { BoltWriter } from "../src/bbolt/writer.js";
import { etcdSource, restoreEtcdDatabaseFromArchive } from "../src/index.js";
import { etcdctlGetAll } from "./helpers.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-bbolt-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const file = () => path.join(dir, `t${n++}.db`);

async function bucketContents(db: string, name: string): Promise<[string, Buffer][]> {
  const bolt = await BoltFile.open(db);
  try {
    const root = await findBucket(bolt, name);
    if (!root) throw new Error(`no bucket ${name}`);
    const out: [string, Buffer][] = [];
    for await (const element of walkBucket(bolt, root))
      out.push([element.key.toString(), Buffer.from(element.value)]);
    return out;
  } finally {
    await bolt.close();
  }
}

async function* entriesOf(list: readonly KeyValue[]): AsyncGenerator<KeyValue> {
  yield* list;
}

describe("BoltWriter", () => {
  it("writes trees of every shape that the reader walks back: empty, one page, overflow values, several branch levels", async () => {
    // 512-byte pages: a few thousand keys make a tree three levels deep, and 5 KB values overflow
    const keys = Array.from({ length: 4000 }, (_, i) => `key-${String(i).padStart(6, "0")}`);
    const value = (i: number) => Buffer.alloc(i % 500 === 0 ? 5_000 + i : i % 40, i % 251);
    const db = file();
    const writer = await BoltWriter.create(db, 512);
    await writer.bucket("many", async (bucket) => {
      for (const [i, key] of keys.entries()) await bucket.put(Buffer.from(key), value(i));
    });
    await writer.bucket("empty", async () => {});
    await writer.bucket("one", async (bucket) => {
      await bucket.put(Buffer.from("only"), Buffer.from("value"));
    });
    await writer.finish();

    const many = await bucketContents(db, "many");
    expect(many.map(([k]) => k)).toEqual(keys);
    expect(many.every(([, v], i) => v.equals(value(i)))).toBe(true);
    expect(await bucketContents(db, "empty")).toEqual([]);
    expect(await bucketContents(db, "one")).toEqual([["only", Buffer.from("value")]]);
    const bolt = await BoltFile.open(db);
    expect(bolt.meta.pageSize).toBe(512);
    expect(bolt.meta.pgid * 512).toBe(bolt.size); // every page written, nothing past the high-water mark
    await bolt.close();
  });

  it("refuses keys out of order, and leaves no file behind when abandoned", async () => {
    const db = file();
    const writer = await BoltWriter.create(db);
    const error = await writer
      .bucket("b", async (bucket) => {
        await bucket.put(Buffer.from("b"), Buffer.alloc(0));
        await bucket.put(Buffer.from("a"), Buffer.alloc(0));
      })
      .catch((e: unknown) => e);
    expect(VsnapError.is(error) && error.message).toMatch(/ascending order/);
    await writer.abandon();
    expect(existsSync(db)).toBe(false);
  });
});

describe("an etcd db built from key/values", () => {
  it("holds every key at its own revision past the base, history up to the base compacted", async () => {
    const entries = [...generateDemoCluster({ keys: 1500, seed: 3 })];
    const db = file();
    const built = await writeEtcdDatabase(db, entriesOf(entries), { baseRevision: 7000 });
    expect(built).toMatchObject({ keys: 1500, revision: 8500, compactedAt: 7000 });

    const readPoint = await openEtcdDatabase(db);
    const got: [string, Buffer][] = [];
    for await (const { key, value } of readPoint.entries()) got.push([key, Buffer.from(value)]);
    await readPoint.close();
    expect(readPoint.revision).toBe(8500);
    const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    expect(got.map(([k]) => k)).toEqual(sorted.map((e) => e.key));
    expect(got.every(([, v], i) => v.equals(sorted[i]!.value))).toBe(true);

    const meta = new Map(await bucketContents(db, "meta"));
    expect(meta.get("finishedCompactRev")).toEqual(revisionKey(7000));
    expect(meta.get("scheduledCompactRev")).toEqual(revisionKey(7000));
  });

  it("frees each value of a stream marked transient once written, and only then", async () => {
    const source = [...generateDemoCluster({ keys: 600, seed: 9 })];
    for (const transient of [true, false]) {
      // each value all of a buffer of its own, as an archive reader hands them out
      const entries = source.map(({ key, value }) => {
        const own = Buffer.allocUnsafeSlow(value.length);
        own.set(value);
        return { key, value: own };
      });
      const db = file();
      const stream = transient ? markTransient(entriesOf(entries)) : entriesOf(entries);
      await writeEtcdDatabase(db, stream, { baseRevision: 1 });
      const freed = entries.filter((e) => e.value.buffer.detached).length;
      expect(freed, `transient ${transient}`).toBe(transient ? entries.length : 0);
      // a value freed before it was copied into its page would read back empty
      const readPoint = await openEtcdDatabase(db);
      const got = new Map<string, Buffer>();
      for await (const { key, value } of readPoint.entries()) got.set(key, Buffer.from(value));
      await readPoint.close();
      expect(source.every(({ key, value }) => got.get(key)?.equals(value))).toBe(true);
    }
  });

  it("restores a key/value archive into a data dir that a real etcd serves; a damaged archive leaves nothing", async () => {
    const entries = [...generateDemoCluster({ keys: 2000, seed: 5 })];
    const readPoint: KeyValueReadPoint = {
      mode: "kv",
      kind: "etcd",
      revision: 4242,
      totals: { keys: entries.length },
      entries: () => entriesOf(entries),
      close: async () => {},
    };
    const archiveFile = path.join(dir, "kv.tar.gz");
    const { stream, done } = writeArchive({ readPoint, toolVersion: "test" });
    await pipeline(stream, createWriteStream(archiveFile));
    await done;

    const peerPort = await freePort();
    const dataDir = path.join(dir, "data");
    const result = await restoreEtcdDatabaseFromArchive(createReadStream(archiveFile), {
      dataDir,
      name: "n1",
      initialAdvertisePeerUrls: `http://127.0.0.1:${peerPort}`,
    });
    expect(result).toMatchObject({ revision: 4242, revisionBump: 1000, keys: 2000, hashChecked: false });
    expect(result.archive.verified).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes(".vsnap-"))).toEqual([]);

    const etcd = await startEtcd({ dataDir, peerPort });
    try {
      const got = await etcdctlGetAll({ endpoint: etcd.endpoint, etcdctlArgs: etcd.etcdctlArgs });
      const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
      expect(got.kvs.map(([k]) => k)).toEqual(sorted.map((e) => e.key));
      expect(got.kvs.every(([, v], i) => v.equals(sorted[i]!.value))).toBe(true);
      expect(got.revision).toBe(4242 + 1000 + 2000);
      // and it takes writes on top
      const source = await etcdSource({ endpoints: etcd.endpoint }).open();
      expect(source.revision).toBe(4242 + 1000 + 2000);
      await source.close();
    } finally {
      await etcd.close();
    }

    const damaged = readFileSync(archiveFile);
    const at = Math.floor(damaged.length / 3);
    damaged[at] = damaged[at]! ^ 0x40;
    const damagedFile = path.join(dir, "damaged.tar.gz");
    writeFileSync(damagedFile, damaged);
    const never = path.join(dir, "never");
    const error = await restoreEtcdDatabaseFromArchive(Readable.from([damaged]), { dataDir: never }).catch(
      (e: unknown) => e,
    );
    expect(VsnapError.is(error) && error.code).toBe("INTEGRITY");
    expect(existsSync(never)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes(".vsnap-"))).toEqual([]);
  });
});
