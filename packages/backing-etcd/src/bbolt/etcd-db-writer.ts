import { isTransient, type KeyValue, releaseView, throwIfAborted, VsnapError } from "@vsnap/core";
import { ProtoWriter, WIRE_BYTES } from "../grpc/protobuf.js";
import { BoltWriter } from "./writer.js";

/**
 * Builds etcd's backend database (a bbolt file, as `etcdctl snapshot save` would fetch) from
 * key/values, without running etcd: the fast way to restore a key/value archive into an etcd
 * that is not running (vCluster's embedded etcd), instead of one transaction per 128 keys through
 * a live server. etcd's own tool then makes a data dir of it (restore-db.ts).
 *
 * Layout, after etcd's mvcc package: bucket `key` maps a revision (8-byte big-endian main
 * revision, `_`, 8-byte sub revision) to a marshalled mvccpb.KeyValue; bucket `meta` holds
 * `scheduledCompactRev` and `finishedCompactRev`. Each key gets a revision of its own after
 * `baseRevision`, and history up to `baseRevision` is marked compacted, so a client watching from
 * before the restore is told to re-list instead of missing changes.
 */
export interface EtcdDatabaseBuildOptions {
  /** Keys get revisions `baseRevision + 1`, `+ 2`, ...; revisions up to it are marked compacted. */
  readonly baseRevision: number;
  readonly signal?: AbortSignal;
}

export interface EtcdDatabaseBuild {
  readonly keys: number;
  /** Bytes of values written. */
  readonly bytes: number;
  /** The db's revision: the last key's. */
  readonly revision: number;
  readonly compactedAt: number;
}

export function revisionKey(main: number, sub = 0): Buffer {
  const key = Buffer.alloc(17);
  key.writeBigUInt64BE(BigInt(main), 0);
  key[8] = 0x5f; // '_'
  key.writeBigUInt64BE(BigInt(sub), 9);
  return key;
}

/** mvccpb.KeyValue up to its value's bytes: key, create/mod revision, version 1, value's tag and length. */
function keyValueHead(key: Uint8Array, revision: number, valueLength: number): Buffer {
  const w = new ProtoWriter(key.length + 40).bytes(1, key).uint(2, revision).uint(3, revision).uint(4, 1);
  if (valueLength > 0) w.tag(5, WIRE_BYTES).varint(valueLength);
  return w.finish();
}

/**
 * Writes `entries` (keys in any order, each once) into a new bbolt file at `file`. Not fsynced: it
 * is scratch input for etcd's restore tool (see `BoltWriter.finish`).
 */
export async function writeEtcdDatabase(
  file: string,
  entries: AsyncIterable<KeyValue>,
  options: EtcdDatabaseBuildOptions,
): Promise<EtcdDatabaseBuild> {
  const base = options.baseRevision;
  if (!Number.isSafeInteger(base) || base < 0) {
    throw new VsnapError("INVALID_ARGUMENT", `base revision must be a non-negative integer, got ${base}`);
  }
  const writer = await BoltWriter.create(file);
  // a marked stream's values are ours: each is freed once written
  const transient = isTransient(entries);
  let keys = 0;
  let bytes = 0;
  try {
    await writer.bucket("key", async (bucket) => {
      for await (const { key, value } of entries) {
        if ((keys & 1023) === 0) throwIfAborted(options.signal, "building the etcd db");
        const keyBytes = Buffer.from(key, "utf8");
        const revision = base + ++keys;
        await bucket.put(revisionKey(revision), keyValueHead(keyBytes, revision, value.length), value);
        bytes += value.length;
        if (transient) releaseView(value);
      }
    });
    await writer.bucket("lease", async () => {});
    await writer.bucket("meta", async (bucket) => {
      const compacted = revisionKey(base);
      await bucket.put(Buffer.from("finishedCompactRev"), compacted);
      await bucket.put(Buffer.from("scheduledCompactRev"), compacted);
    });
    await writer.finish();
  } catch (error) {
    await writer.abandon();
    throw error;
  }
  return { keys, bytes, revision: base + keys, compactedAt: base };
}
