import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import {
  archiveKeyValues,
  type KeyValue,
  markTransient,
  readArchive,
  VsnapError,
  verifyArchive,
  writeArchive,
} from "@vsnap/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EtcdClient, etcdSource, etcdTarget } from "../src/index.js";
import {
  clearAll,
  client,
  connection,
  etcdctl,
  etcdctlGetAll,
  objectValue,
  seed,
  server,
} from "./helpers.js";

const source = server("archive");
const target = server("restore");
const limited = server("limits");
let sourceClient: EtcdClient;
let targetClient: EtcdClient;
let dir: string;
let archiveFile: string;
let snapshotRevision: number;

async function failure(promise: Promise<unknown>): Promise<VsnapError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!VsnapError.is(error)) throw new Error(`expected a VsnapError, got ${String(error)}`);
  return error;
}

async function* generated(n: number, prefix = "/registry/configmaps/default/cm-"): AsyncGenerator<KeyValue> {
  for (let i = 0; i < n; i++)
    yield { key: `${prefix}${String(i).padStart(5, "0")}`, value: objectValue(i, 300) };
}

function sameKeyValues(a: [string, Buffer][], b: [string, Buffer][]): boolean {
  return a.length === b.length && a.every(([k, v], i) => k === b[i]![0] && v.equals(b[i]![1]));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-etcd-restore-"));
  sourceClient = await client(source);
  targetClient = await client(target);
  await clearAll(sourceClient);
  // history first, so the source's revision is well ahead of the (fresh) target's
  for (let round = 0; round < 3; round++) {
    await seed(
      sourceClient,
      Array.from(
        { length: 1500 },
        (_, i) =>
          [`/registry/pods/ns-${i % 9}/p-${i}`, objectValue(i + round, 400 + (i % 50) * 20)] as [
            string,
            Buffer,
          ],
      ),
    );
  }
  await seed(sourceClient, [
    ["/registry/empty", Buffer.alloc(0)],
    ["/registry/binary", Buffer.from([0, 255, 1, 254, 0, 0])],
    ["/vcluster/mappings/pods/x", Buffer.from("{}")],
    ["/registry/ünïcode/ключ", Buffer.from("utf-8 key")],
  ]);
  const readPoint = await etcdSource(connection(source)).open();
  snapshotRevision = readPoint.revision;
  archiveFile = path.join(dir, "kv.tar.gz");
  const writer = writeArchive({ readPoint, toolVersion: "0.1.0-test" });
  await pipeline(writer.stream, createWriteStream(archiveFile));
  await writer.done;
  await readPoint.close();
});
afterAll(() => {
  sourceClient?.close();
  targetClient?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("restore into a live etcd", () => {
  it("round-trips etcd → archive → etcd with identical key/values, past the snapshot's revision, compacted", async () => {
    await clearAll(targetClient);
    const summary = await verifyArchive(createReadStream(archiveFile));
    expect(summary.revision).toBe(snapshotRevision);
    const notices: string[] = [];
    const progress: number[] = [];
    const result = await etcdTarget(connection(target), { onNotice: (m) => notices.push(m) }).restore(
      archiveKeyValues(readArchive(createReadStream(archiveFile))),
      { revision: summary.revision!, onProgress: (keys) => progress.push(keys) },
    );
    expect(result.keys).toBe(1504);
    expect(result.verified).toBe(true);
    expect(result.cleared).toBe(0);
    expect(progress.at(-1)).toBe(1504);

    const want = await etcdctlGetAll(source, snapshotRevision);
    const got = await etcdctlGetAll(target);
    expect(sameKeyValues(got.kvs, want.kvs)).toBe(true);

    // every restored object has a resourceVersion past the snapshot's revision + 1000 (vCluster's bump)
    expect(result.revisionBump).toBeGreaterThan(0);
    expect(notices.join("\n")).toMatch(/raising etcd's revision/);
    const modRevisions = JSON.parse(
      await etcdctl(target, ["get", "--prefix", "/", "-w", "json", "--keys-only"]),
    ) as {
      kvs: { mod_revision: number }[];
    };
    expect(Math.min(...modRevisions.kvs.map((kv) => kv.mod_revision))).toBeGreaterThan(
      snapshotRevision + 1000,
    );
    expect(result.revision).toBe(got.revision);
    // history before the restore is compacted away, so stale watches must re-list
    expect(result.compactedAt).toBe(result.revision);
    await expect(etcdctl(target, ["get", "/registry/empty", `--rev=${result.revision - 1}`])).rejects.toThrow(
      /compacted/,
    );
  });

  it("refuses a non-empty keyspace, and with force clears it first and says so", async () => {
    const before = await etcdctlGetAll(target);
    expect(before.kvs.length).toBeGreaterThan(0);
    const refused = await failure(etcdTarget(connection(target)).restore(generated(10)));
    expect(refused.code).toBe("FAILED_PRECONDITION");
    expect(refused.message).toContain(`${before.kvs.length} keys`);
    expect(refused.hint).toMatch(/--force/);
    expect((await etcdctlGetAll(target)).kvs.length).toBe(before.kvs.length);

    const notices: string[] = [];
    const result = await etcdTarget(connection(target), {
      force: true,
      onNotice: (m) => notices.push(m),
    }).restore(generated(10));
    expect(result.cleared).toBe(before.kvs.length);
    expect(notices[0]).toMatch(new RegExp(`deleted ${before.kvs.length} existing keys`));
    expect(result.revisionBump).toBe(0); // no snapshot revision given, and the live revision only grows
    const after = await etcdctlGetAll(target);
    expect(after.kvs.map(([k]) => k)).toEqual(
      Array.from({ length: 10 }, (_, i) => `/registry/configmaps/default/cm-${String(i).padStart(5, "0")}`),
    );
  });

  it("never writes /vcluster/snapshot/ entries into etcd", async () => {
    async function* withMetadata(): AsyncGenerator<KeyValue> {
      yield { key: "/registry/a", value: Buffer.from("a") };
      yield { key: "/vcluster/snapshot/release", value: Buffer.from("{}") };
      yield { key: "/vcluster/snapshot/vsnap/manifest", value: Buffer.from("{}") };
    }
    const result = await etcdTarget(connection(target), { force: true }).restore(withMetadata());
    expect(result.keys).toBe(1);
    expect(result.skipped).toBe(2);
    expect((await etcdctlGetAll(target)).kvs.map(([k]) => k)).toEqual(["/registry/a"]);
  });

  it("stops when aborted", async () => {
    const controller = new AbortController();
    const error = await failure(
      etcdTarget(connection(target), { force: true }).restore(generated(5000), {
        signal: controller.signal,
        onProgress: (keys) => {
          if (keys >= 500) controller.abort();
        },
      }),
    );
    expect(error.code).toBe("ABORTED");
    expect((await etcdctlGetAll(target)).kvs.length).toBeLessThan(5000);
  });
});

describe("restore into an etcd with lowered limits (--max-txn-ops=10)", () => {
  it("shrinks its transactions to what etcd accepts and still verifies", async () => {
    const limitedClient = await client(limited);
    await clearAll(limitedClient);
    limitedClient.close();
    const result = await etcdTarget(connection(limited), { force: true }).restore(generated(700));
    expect(result.keys).toBe(700);
    expect(result.verified).toBe(true);
    expect((await etcdctlGetAll(limited)).kvs.length).toBe(700);
  });

  it("frees each value of a stream marked transient once etcd has it, even across halved batches", async () => {
    for (const transient of [true, false]) {
      // each value all of a buffer of its own, as an archive reader hands them out
      const entries: KeyValue[] = [];
      for await (const { key, value } of generated(300, "/registry/secrets/default/s-")) {
        const own = Buffer.allocUnsafeSlow(value.length);
        own.set(value);
        entries.push({ key, value: own });
      }
      const expected = entries.map(({ key, value }) => [key, Buffer.from(value)] as [string, Buffer]);
      async function* stream(): AsyncGenerator<KeyValue> {
        yield* entries;
      }
      const result = await etcdTarget(connection(limited), { force: true }).restore(
        transient ? markTransient(stream()) : stream(),
      );
      // read back and compared by digest: a value freed before a retried (halved) batch was sent would fail it
      expect(result.verified).toBe(true);
      const freed = entries.filter((e) => (e.value.buffer as ArrayBuffer).detached).length;
      expect(freed, `transient ${transient}`).toBe(transient ? entries.length : 0);
      expect(sameKeyValues((await etcdctlGetAll(limited)).kvs, expected)).toBe(true);
    }
  });

  it("names the key when one value is larger than etcd accepts", async () => {
    async function* huge(): AsyncGenerator<KeyValue> {
      yield { key: "/registry/small", value: Buffer.from("s") };
      yield { key: "/registry/huge", value: objectValue(1, 3 * 1024 * 1024) };
    }
    const error = await failure(etcdTarget(connection(limited), { force: true }).restore(huge()));
    expect(error.code).toBe("FAILED_PRECONDITION");
    expect(error.message).toContain("/registry/huge");
    expect(error.hint).toMatch(/--max-request-bytes/);
  });
});
