// The migration paths vCluster documents: etcd ↔ embedded SQLite (kine), through the archive.
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { createKineDatabase, sqliteSource, sqliteTarget } from "@vsnap/backing-sqlite";
import {
  archiveKeyValues,
  generateDemoCluster,
  type KeyValueReadPoint,
  type ReadPoint,
  readArchive,
  verifyArchive,
  writeArchive,
} from "@vsnap/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dbArchiveToKeyValues, type EtcdClient, etcdSource, etcdTarget } from "../src/index.js";
import {
  clearAll,
  client,
  collect,
  connection,
  etcdctlGetAll,
  seed,
  server,
  withoutMetadata,
} from "./helpers.js";

const etcd = server("sqlite");
let c: EtcdClient;
let dir: string;

async function archive(readPoint: ReadPoint, file: string): Promise<void> {
  const writer = writeArchive({ readPoint, toolVersion: "0.1.0-test" });
  await pipeline(writer.stream, createWriteStream(file));
  await writer.done;
  await readPoint.close();
}

async function sqliteEntries(file: string): Promise<[string, Buffer][]> {
  const readPoint = (await sqliteSource(file).open()) as KeyValueReadPoint;
  try {
    return await collect(readPoint.entries());
  } finally {
    await readPoint.close();
  }
}

function sameKeyValues(a: [string, Buffer][], b: [string, Buffer][]): boolean {
  return a.length === b.length && a.every(([k, v], i) => k === b[i]![0] && v.equals(b[i]![1]));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-etcd-sqlite-"));
  c = await client(etcd);
});
afterAll(() => {
  c?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("etcd ↔ SQLite (kine)", () => {
  it("restores an etcd key/value snapshot into SQLite with the identical key/value set", async () => {
    await clearAll(c);
    await seed(
      c,
      [...generateDemoCluster({ keys: 1500, seed: 3 })].map(
        (kv) => [kv.key, kv.value] as [string, Uint8Array],
      ),
    );
    const readPoint = await etcdSource(connection(etcd)).open();
    const revision = readPoint.revision;
    const file = path.join(dir, "from-etcd.tar.gz");
    await archive(readPoint, file);

    const db = path.join(dir, "kine-from-etcd", "state.db");
    const result = await sqliteTarget(db).restore(archiveKeyValues(readArchive(createReadStream(file))), {
      revision,
    });
    expect(result.keys).toBe(1500);
    const want = withoutMetadata((await etcdctlGetAll(etcd, revision)).kvs);
    expect(sameKeyValues(await sqliteEntries(db), want)).toBe(true);
  });

  it("restores a SQLite snapshot into etcd with the identical key/value set", async () => {
    const db = path.join(dir, "kine-source", "state.db");
    await createKineDatabase(db, generateDemoCluster({ keys: 1200, seed: 4 }), { history: 0.1 });
    const want = await sqliteEntries(db);
    const readPoint = await sqliteSource(db).open();
    const file = path.join(dir, "from-sqlite.tar.gz");
    await archive(readPoint, file);
    const summary = await verifyArchive(createReadStream(file));
    expect(summary.keys).toBe(want.length);

    const result = await etcdTarget(connection(etcd), { force: true }).restore(
      archiveKeyValues(readArchive(createReadStream(file))),
      { revision: summary.revision! },
    );
    expect(result.verified).toBe(true);
    expect(sameKeyValues((await etcdctlGetAll(etcd)).kvs, want)).toBe(true);
  });

  it("restores an etcd db-mode snapshot into SQLite through the bbolt reader (no etcd involved)", async () => {
    // the store now holds the SQLite-restored keys, with history: take etcd's own snapshot of it
    const want = withoutMetadata((await etcdctlGetAll(etcd)).kvs);
    const readPoint = await etcdSource({ ...connection(etcd), mode: "db" }).open();
    const file = path.join(dir, "db-mode.tar.gz");
    await archive(readPoint, file);

    const converted = await dbArchiveToKeyValues(createReadStream(file), { tempDir: dir });
    const db = path.join(dir, "kine-from-db", "state.db");
    const result = await sqliteTarget(db).restore(converted.readPoint.entries(), {
      revision: converted.readPoint.revision,
    });
    await converted.readPoint.close();
    expect(result.keys).toBe(want.length);
    expect(sameKeyValues(await sqliteEntries(db), want)).toBe(true);
  });
});
