import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import {
  type DatabaseReadPoint,
  DB_ENTRY,
  readArchive,
  VsnapError,
  verifyArchive,
  writeArchive,
} from "@vsnap/core";
import { startEtcd } from "@vsnap/test-servers/etcd";
import { freePort } from "@vsnap/test-servers/ports";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkDbTrailer,
  type EtcdClient,
  etcdSource,
  restoreEtcdDatabase,
  restoreEtcdDatabaseFromArchive,
} from "../src/index.js";
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

const etcd = server("db");
let c: EtcdClient;
let dir: string;
let archiveFile: string;
let expected: { revision: number; kvs: [string, Buffer][] };

async function openDb(): Promise<DatabaseReadPoint> {
  const readPoint = await etcdSource({ ...connection(etcd), mode: "db" }).open();
  if (readPoint.mode !== "db") throw new Error("db read point expected");
  return readPoint;
}

async function writeDbArchive(file: string, readPoint: DatabaseReadPoint): Promise<void> {
  const writer = writeArchive({
    readPoint,
    toolVersion: "0.1.0-test",
    metadata: {
      release: {
        releaseName: "vc",
        releaseNamespace: "team-a",
        chartName: "vcluster",
        chartVersion: "0.30.0",
      },
    },
  });
  await pipeline(writer.stream, createWriteStream(file));
  await writer.done;
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
  dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-etcd-db-test-"));
  c = await client(etcd);
  await clearAll(c);
  await seed(
    c,
    Array.from(
      { length: 2000 },
      (_, i) => [`/registry/pods/ns-${i % 5}/pod-${i}`, objectValue(i, 800)] as [string, Buffer],
    ),
  );
  await seed(c, [["/registry/big/blob", objectValue(7, 600_000)]]);
  expected = await etcdctlGetAll(etcd);
  archiveFile = path.join(dir, "db-snapshot.tar.gz");
  const readPoint = await openDb();
  await writeDbArchive(archiveFile, readPoint);
  await readPoint.close();
});
afterAll(() => {
  c?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("db mode: etcd's own snapshot", () => {
  it("streams the exact size announced up front, with etcd's SHA-256 trailer, accepted by etcdctl snapshot status", async () => {
    const readPoint = await openDb();
    expect(readPoint.totals.bytes).toBeGreaterThan(1_000_000);
    const { size, chunks } = await readPoint.database();
    const file = path.join(dir, "stream.db");
    let seen = 0;
    await pipeline(
      (async function* () {
        for await (const chunk of chunks) {
          seen += chunk.length;
          yield chunk;
        }
      })(),
      createWriteStream(file),
    );
    await readPoint.close();
    expect(seen).toBe(size);
    expect(size % 512).toBe(32);
    const status = JSON.parse(await etcdctl(undefined, ["snapshot", "status", file, "-w", "json"])) as {
      revision: number;
      totalKey: number;
    };
    expect(status.revision).toBeGreaterThanOrEqual(readPoint.revision);
    expect(status.totalKey).toBeGreaterThan(2001);
  });

  it("frees each chunk's message once a transient reader asks for the next, and only then", async () => {
    for (const transient of [true, false]) {
      const readPoint = await openDb();
      const { size, chunks } = await readPoint.database(undefined, { transient });
      const buffers = new Set<ArrayBufferLike>();
      let seen = 0;
      for await (const chunk of chunks) {
        expect(chunk.byteLength).toBeGreaterThan(0); // the chunk in hand is whole
        seen += chunk.byteLength;
        buffers.add(chunk.buffer);
      }
      await readPoint.close();
      expect(seen).toBe(size);
      expect(buffers.size).toBeGreaterThan(10);
      const freed = [...buffers].filter((b) => b.byteLength === 0).length;
      // all but the last message, and the trailer check's own copy of the final bytes
      if (transient) expect(freed).toBeGreaterThanOrEqual(buffers.size - 2);
      else expect(freed).toBe(0);
    }
  });

  it("writes it as the archive's db entry, which verifies and which etcdctl accepts once extracted", async () => {
    const summary = await verifyArchive(createReadStream(archiveFile));
    expect(summary.mode).toBe("db");
    expect(summary.verified).toBe(true);
    expect(summary.etcdChecksumVerified).toBe(true);
    expect(summary.release?.releaseName).toBe("vc");

    const extracted = path.join(dir, "extracted.db");
    for await (const entry of readArchive(createReadStream(archiveFile))) {
      if (entry.name === DB_ENTRY) await pipeline(entry.stream(), createWriteStream(extracted));
    }
    const status = JSON.parse(await etcdctl(undefined, ["snapshot", "status", extracted, "-w", "json"])) as {
      revision: number;
    };
    expect(status.revision).toBe(expected.revision);
  });

  it("passes a db stream through byte for byte, whatever its chunk sizes", async () => {
    const db = readFileSync(path.join(dir, "extracted.db"));
    const sizes = [1, 7, 31, 32, 33, 5, 64, 100, 4096, 65536];
    const chunks = async function* () {
      for (let i = 0, n = 0; i < db.length; n++) {
        const size = sizes[n % sizes.length]!;
        // a reused buffer, as a producer may hand out: the check must copy what it keeps
        const reused = Buffer.from(db.subarray(i, i + size));
        yield reused;
        reused.fill(0);
        i += size;
      }
    };
    const out: Buffer[] = [];
    for await (const chunk of checkDbTrailer(chunks())) out.push(Buffer.from(chunk));
    expect(Buffer.concat(out).equals(db)).toBe(true);
  });

  it("rejects a db stream whose trailer does not match, or that is truncated, before handing out its last bytes", async () => {
    const db = readFileSync(path.join(dir, "extracted.db"));
    const flipped = Buffer.from(db);
    flipped[5000] = flipped[5000]! ^ 0xff;
    const drain = async (bytes: Buffer, expectedSize?: number) => {
      const chunks = async function* () {
        for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536);
      };
      let out = 0;
      for await (const chunk of checkDbTrailer(chunks(), expectedSize ? { expectedSize } : {}))
        out += chunk.length;
      return out;
    };
    expect(await drain(db)).toBe(db.length);
    const corrupt = await failure(drain(flipped));
    expect(corrupt.code).toBe("INTEGRITY");
    expect(corrupt.message).toMatch(/SHA-256 trailer/);
    expect((await failure(drain(db.subarray(0, db.length - 100)))).code).toBe("INTEGRITY");
    expect((await failure(drain(db.subarray(0, db.length - 1), db.length))).message).toMatch(/truncated/);
  });
});

describe("db restore into a data dir with etcd's tool", () => {
  it("restores our archive with etcdctl snapshot restore; the restored etcd holds the same keys", async () => {
    const peerPort = await freePort();
    const dataDir = path.join(dir, "restored-1");
    const notices: string[] = [];
    const result = await restoreEtcdDatabaseFromArchive(createReadStream(archiveFile), {
      dataDir,
      name: "n1",
      initialAdvertisePeerUrls: `http://127.0.0.1:${peerPort}`,
      onNotice: (m) => notices.push(m),
    });
    expect(result.hashChecked).toBe(true);
    expect(result.revision).toBe(expected.revision);
    expect(result.metadata.release?.releaseNamespace).toBe("team-a");
    expect(result.archive.verified).toBe(true);
    expect(path.basename(result.tool)).toMatch(/^etcd(utl|ctl)$/);
    if (result.revisionBump === 0) expect(notices.join("\n")).toMatch(/cannot bump the revision/);
    expect(readdirSync(dir).filter((f) => f.includes(".vsnap-"))).toEqual([]);

    const restored = await startEtcd({ dataDir, peerPort });
    try {
      const got = await etcdctlGetAll({ endpoint: restored.endpoint, etcdctlArgs: restored.etcdctlArgs });
      expect(got.kvs.length).toBe(expected.kvs.length);
      expect(got.kvs.every(([k, v], i) => k === expected.kvs[i]![0] && v.equals(expected.kvs[i]![1]))).toBe(
        true,
      );
      expect(got.revision).toBeGreaterThanOrEqual(expected.revision + result.revisionBump);
    } finally {
      await restored.close();
    }
  });

  it("rejects a corrupted db entry before anything is written", async () => {
    // an archive whose manifest is consistent but whose db bytes no longer match etcd's trailer
    const readPoint = await openDb();
    const tampered: DatabaseReadPoint = {
      ...readPoint,
      async database(signal) {
        const db = await readPoint.database(signal);
        let offset = 0;
        return {
          size: db.size,
          chunks: (async function* () {
            for await (const chunk of db.chunks) {
              const copy = Buffer.from(chunk);
              const at = 20_000 - offset;
              if (at >= 0 && at < copy.length) copy[at] = copy[at]! ^ 0x01;
              offset += copy.length;
              yield copy;
            }
          })(),
        };
      },
    };
    const tamperedArchive = path.join(dir, "tampered.tar.gz");
    await writeDbArchive(tamperedArchive, tampered);
    await readPoint.close();
    const dataDir = path.join(dir, "never-restored");
    const refused = await failure(
      restoreEtcdDatabaseFromArchive(createReadStream(tamperedArchive), { dataDir }),
    );
    expect(refused.code).toBe("INTEGRITY");
    expect(refused.message).toMatch(/SHA-256 trailer/);
    expect(existsSync(dataDir)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes(".vsnap-"))).toEqual([]);

    // ...and a db entry corrupted after the fact is refused by the restore
    const db = readFileSync(path.join(dir, "extracted.db"));
    db[30_000] = db[30_000]! ^ 0x01;
    const corruptDb = path.join(dir, "corrupt.db");
    writeFileSync(corruptDb, db);
    const error = await failure(restoreEtcdDatabase({ db: corruptDb, dataDir }));
    expect(error.code).toBe("INTEGRITY");
    expect(error.message).toMatch(/SHA-256 trailer/);
    expect(existsSync(dataDir)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes(".vsnap-"))).toEqual([]);

    // ...and so is a damaged archive (gzip/tar/manifest), again before the data dir exists
    const archive = readFileSync(archiveFile);
    const middle = Math.floor(archive.length / 2);
    archive[middle] = archive[middle]! ^ 0x55;
    const damaged = path.join(dir, "damaged.tar.gz");
    writeFileSync(damaged, archive);
    const damagedError = await failure(
      restoreEtcdDatabaseFromArchive(createReadStream(damaged), { dataDir }),
    );
    expect(damagedError.code).toBe("INTEGRITY");
    expect(existsSync(dataDir)).toBe(false);
  });

  it("refuses a non-empty data dir unless forced, and then keeps the old one aside", async () => {
    const dataDir = path.join(dir, "occupied");
    mkdirSync(path.join(dataDir, "member"), { recursive: true });
    writeFileSync(path.join(dataDir, "member", "marker"), "old");
    const refused = await failure(restoreEtcdDatabaseFromArchive(createReadStream(archiveFile), { dataDir }));
    expect(refused.code).toBe("FAILED_PRECONDITION");
    expect(readFileSync(path.join(dataDir, "member", "marker"), "utf8")).toBe("old");

    const notices: string[] = [];
    const result = await restoreEtcdDatabaseFromArchive(createReadStream(archiveFile), {
      dataDir,
      force: true,
      onNotice: (m) => notices.push(m),
    });
    expect(result.backupDir).toBeDefined();
    expect(readFileSync(path.join(result.backupDir!, "member", "marker"), "utf8")).toBe("old");
    expect(existsSync(path.join(dataDir, "member", "snap", "db"))).toBe(true);
    expect(notices.join("\n")).toContain(result.backupDir!);
  });

  it("says clearly when etcd's tools are missing", async () => {
    const explicit = await failure(
      restoreEtcdDatabase({
        db: path.join(dir, "extracted.db"),
        dataDir: path.join(dir, "x"),
        tool: "/nonexistent/etcdutl",
      }),
    );
    expect(explicit.code).toBe("NOT_FOUND");
    const savedPath = process.env.PATH;
    process.env.PATH = path.join(dir, "empty-bin");
    try {
      const missing = await failure(
        restoreEtcdDatabase({ db: path.join(dir, "extracted.db"), dataDir: path.join(dir, "y") }),
      );
      expect(missing.code).toBe("UNSUPPORTED");
      expect(missing.message).toMatch(/etcdutl or etcdctl/);
      expect(missing.hint).toMatch(/etcd-client/);
    } finally {
      process.env.PATH = savedPath;
    }
    expect(existsSync(path.join(dir, "y"))).toBe(false);
  });
});
