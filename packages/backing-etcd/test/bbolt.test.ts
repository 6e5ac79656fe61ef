import { execFileSync } from "node:child_process";
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
import { pipeline } from "node:stream/promises";
import { type KeyValueReadPoint, VsnapError, verifyArchive, writeArchive } from "@vsnap/core";
import { hasCommand } from "@vsnap/test-servers/ports";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BoltFile, BRANCH_PAGE, findBucket } from "../src/bbolt/file.js";
import {
  dbArchiveToKeyValues,
  type EtcdClient,
  etcdSource,
  openEtcdDatabase,
  readEtcdDatabaseRevision,
  restoreEtcdDatabase,
} from "../src/index.js";
import {
  client,
  collect,
  connection,
  etcdctl,
  etcdctlGetAll,
  objectValue,
  seed,
  server,
  withoutMetadata,
} from "./helpers.js";

const etcd = server("bbolt");
let c: EtcdClient;
let dir: string;

async function saveSnapshot(name: string): Promise<string> {
  const file = path.join(dir, name);
  await etcdctl(etcd, ["snapshot", "save", file]);
  return file;
}

async function statusRevision(file: string): Promise<number> {
  return (
    JSON.parse(await etcdctl(undefined, ["snapshot", "status", file, "-w", "json"])) as { revision: number }
  ).revision;
}

function sameKeyValues(a: [string, Buffer][], b: [string, Buffer][]): boolean {
  return a.length === b.length && a.every(([k, v], i) => k === b[i]![0] && v.equals(b[i]![1]));
}

async function failure(promise: Promise<unknown>): Promise<VsnapError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!VsnapError.is(error)) throw new Error(`expected a VsnapError, got ${String(error)}`);
  return error;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-bbolt-"));
  c = await client(etcd);
});
afterAll(() => {
  c?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("bbolt reader (etcd db → key/values without etcd)", () => {
  // runs first, on the still-fresh server: a "key" bucket this small is stored inline in its parent
  it("reads a tiny db whose key bucket is inline", async () => {
    await seed(c, [
      ["/registry/namespaces/default", Buffer.from("ns")],
      ["/registry/x", Buffer.from("x")],
    ]);
    const file = await saveSnapshot("tiny.db");
    const bolt = await BoltFile.open(file);
    const bucket = await findBucket(bolt, "key");
    await bolt.close();
    expect(bucket && "inline" in bucket).toBe(true);
    const readPoint = await openEtcdDatabase(file);
    expect(readPoint.revision).toBe(await statusRevision(file));
    expect(await collect(readPoint.entries())).toEqual([
      ["/registry/namespaces/default", Buffer.from("ns")],
      ["/registry/x", Buffer.from("x")],
    ]);
    await readPoint.close();
  });

  it("reads a large db with history, tombstones, compaction and overflow pages exactly as etcdctl sees it", async () => {
    const keys = Array.from({ length: 12_000 }, (_, i) => `/registry/configmaps/ns-${i % 17}/cm-${i}`);
    await seed(
      c,
      keys.map((k, i) => [k, objectValue(i, 100 + (i % 40) * 25)]),
    );
    await seed(
      c,
      keys.filter((_, i) => i % 3 === 0).map((k, i) => [k, objectValue(i + 50_000, 180)]),
    );
    const doomed = keys.filter((_, i) => i % 7 === 0);
    for (let i = 0; i < doomed.length; i += 100) {
      await c.txn(doomed.slice(i, i + 100).map((k) => ({ deleteRange: { key: Buffer.from(k) } })));
    }
    const compactAt = (await c.status()).header.revision;
    await c.compact(compactAt, true);
    await seed(c, [
      ["/registry/secrets/huge", objectValue(1, 200_000)], // spans many overflow pages
      ["/registry/empty-value", Buffer.alloc(0)],
      ["/vcluster/snapshot/leaked", Buffer.from("metadata, never copied")],
      ["compact_rev_key", Buffer.from("outside /")],
      [keys[7]!, Buffer.from("re-created after its delete")],
    ]);
    await c.txn([{ deleteRange: { key: Buffer.from("/registry/x") } }]);

    const file = await saveSnapshot("large.db");
    const bolt = await BoltFile.open(file);
    const bucket = await findBucket(bolt, "key");
    expect(bucket && "pgid" in bucket && ((await bolt.page(bucket.pgid)).flags & BRANCH_PAGE) !== 0).toBe(
      true,
    );
    await bolt.close();

    const readPoint = await openEtcdDatabase(file);
    const revision = await statusRevision(file);
    expect(readPoint.revision).toBe(revision);
    expect(await readEtcdDatabaseRevision(file)).toBe(revision);
    const want = withoutMetadata((await etcdctlGetAll(etcd, revision)).kvs);
    expect(readPoint.totals.keys).toBe(want.length);
    const got = await collect(readPoint.entries());
    await readPoint.close();
    expect(got.length).toBe(want.length);
    expect(sameKeyValues(got, want)).toBe(true);
    expect(got.find(([k]) => k === keys[7])?.[1].toString()).toBe("re-created after its delete");
    expect(got.some(([k]) => k === "/registry/x")).toBe(false);
  });

  it("reads a db without etcd's trailer (as copied from a data dir) and restores it without the hash check", async () => {
    const withTrailer = readFileSync(path.join(dir, "large.db"));
    const bare = path.join(dir, "bare.db");
    writeFileSync(bare, withTrailer.subarray(0, withTrailer.length - 32));
    const readPoint = await openEtcdDatabase(bare);
    expect(readPoint.totals.keys).toBeGreaterThan(10_000);
    await readPoint.close();
    const notices: string[] = [];
    const result = await restoreEtcdDatabase({
      db: bare,
      dataDir: path.join(dir, "bare-restored"),
      onNotice: (m) => notices.push(m),
    });
    expect(result.hashChecked).toBe(false);
    expect(notices.join("\n")).toMatch(/without etcd's hash check/);
  });

  it("refuses files that are not bbolt, and truncated ones", async () => {
    const garbage = path.join(dir, "garbage.db");
    writeFileSync(garbage, Buffer.alloc(64 * 1024, 0x42));
    const notBolt = await failure(openEtcdDatabase(garbage));
    expect(notBolt.code).toBe("INTEGRITY");
    expect(notBolt.message).toMatch(/no valid meta page/);
    const whole = readFileSync(path.join(dir, "large.db"));
    const truncated = path.join(dir, "truncated.db");
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 3)));
    expect((await failure(openEtcdDatabase(truncated))).code).toBe("INTEGRITY");
  });

  it("converts a db-mode archive into key/values, and into a key/value archive, without running etcd", async () => {
    const source = await etcdSource({ ...connection(etcd), mode: "db" }).open();
    const dbArchive = path.join(dir, "db.tar.gz");
    const writer = writeArchive({
      readPoint: source,
      toolVersion: "0.1.0-test",
      metadata: { vclusterConfig: "controlPlane: {}\n" },
    });
    await pipeline(writer.stream, createWriteStream(dbArchive));
    await writer.done;
    await source.close();

    const tempDir = path.join(dir, "conversion-temp");
    rmSync(tempDir, { recursive: true, force: true });
    execFileSync("mkdir", ["-p", tempDir]);
    const converted = await dbArchiveToKeyValues(createReadStream(dbArchive), { tempDir });
    expect(converted.archive.verified).toBe(true);
    expect(converted.metadata.vclusterConfig).toBe("controlPlane: {}\n");
    const want = withoutMetadata((await etcdctlGetAll(etcd, converted.readPoint.revision)).kvs);
    expect(readdirSync(tempDir).length).toBe(1); // the staged db, private to this conversion

    const kvArchive = path.join(dir, "converted.tar.gz");
    const kvWriter = writeArchive({
      readPoint: converted.readPoint as KeyValueReadPoint,
      toolVersion: "0.1.0-test",
      metadata: converted.metadata,
    });
    await pipeline(kvWriter.stream, createWriteStream(kvArchive));
    const manifest = await kvWriter.done;
    await converted.readPoint.close();
    expect(readdirSync(tempDir)).toEqual([]);
    expect(manifest.keys).toBe(want.length);
    const summary = await verifyArchive(createReadStream(kvArchive));
    expect(summary.mode).toBe("kv");
    expect(summary.revision).toBe(converted.readPoint.revision);
    expect(summary.vclusterConfig).toBe("controlPlane: {}\n");
  });

  it.skipIf(!hasCommand("python3"))(
    "reads an embedded-etcd archive as vCluster writes it (release, request, db, skipkeys; written by Python's tarfile)",
    async () => {
      const db = path.join(dir, "large.db");
      const archive = path.join(dir, "vcluster-embedded.tar.gz");
      const skip = "/registry/configmaps/ns-1/cm-1";
      // Go's archive/tar + gzip level 3 as in vCluster's writeEtcdSnapshot, here from an independent writer
      const script = `
import tarfile, gzip, io, json, sys
db, out, skip = sys.argv[1], sys.argv[2], sys.argv[3]
def add(tar, name, data):
    info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o666; info.mtime = 0
    tar.addfile(info, io.BytesIO(data))
with gzip.GzipFile(out, "wb", compresslevel=3, mtime=0) as gz:
    with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        add(tar, "/vcluster/snapshot/release", json.dumps({"releaseName": "vc", "releaseNamespace": "vcluster-vc", "chartName": "vcluster", "chartVersion": "0.29.0"}).encode())
        add(tar, "/vcluster/snapshot/request/v1beta1", json.dumps({"metadata": {"name": "r1", "creationTimestamp": None}, "spec": {"url": "s3://b/k"}, "status": {"phase": "Completed"}}).encode())
        add(tar, "/vcluster/snapshot/db", open(db, "rb").read())
        add(tar, "/vcluster/snapshot/skipkeys", json.dumps({skip: {}}).encode())
`;
      execFileSync("python3", ["-c", script, db, archive, skip]);
      const converted = await dbArchiveToKeyValues(createReadStream(archive));
      expect(converted.archive.mode).toBe("db");
      expect(converted.archive.verified).toBe(false); // vCluster writes no manifest
      expect(converted.metadata.release?.releaseNamespace).toBe("vcluster-vc");
      expect(converted.metadata.request?.metadata.name).toBe("r1");
      expect([...converted.skipKeys]).toEqual([skip]);
      const full = await openEtcdDatabase(db);
      const got = await collect(converted.readPoint.entries());
      expect(got.length).toBe(full.totals.keys! - 1);
      expect(got.some(([k]) => k === skip)).toBe(false);
      await full.close();
      await converted.readPoint.close();
      expect(existsSync(archive)).toBe(true);
    },
  );
});
