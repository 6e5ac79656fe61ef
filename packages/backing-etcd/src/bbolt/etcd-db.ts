import { type KeyValue, type KeyValueReadPoint, throwIfAborted, VsnapError } from "@vsnap/core";
import { decodeMvccKeyValue } from "../grpc/messages.js";
import { isSnapshotKey, keyToString } from "../keys.js";
import { BoltFile, BRANCH_PAGE, branchChild, findBucket, leafElement, walkBucket } from "./file.js";

/** etcd's MVCC bucket: revision → mvccpb.KeyValue. */
const KEY_BUCKET = "key";
/** `8-byte main revision | '_' | 8-byte sub revision`, plus `t` for a tombstone (a delete). */
const REVISION_KEY_SIZE = 17;
const TOMBSTONE_MARK = 0x74;
/** Values read at once while streaming in key order (random reads, overlapped). */
const READ_AHEAD = 64;

export interface EtcdDatabaseOptions {
  /** Keys to leave out (vCluster's `/vcluster/snapshot/skipkeys`). */
  readonly skipKeys?: ReadonlySet<string>;
  readonly signal?: AbortSignal;
  /** Runs after the file is closed (e.g. removing a temporary copy). */
  readonly onClose?: () => Promise<void>;
}

export interface EtcdDatabaseReadPoint extends KeyValueReadPoint {
  /** Revisions (puts and deletes) found in the db, of every key. */
  readonly revisions: number;
}

interface Location {
  readonly offset: number;
  readonly length: number;
}

/**
 * Reads an etcd db (a bbolt file, such as `etcdctl snapshot save` output, a vCluster db entry
 * extracted from its archive, or a stopped member's `member/snap/db`) as key/values, without
 * running etcd: the latest revision of every key, tombstones dropped, keys outside `/` and
 * under `/vcluster/snapshot/` left out, in key order.
 *
 * Opening walks the `key` bucket once in revision order and keeps, per live key, only where its
 * latest value lies in the file (memory grows with the number of keys, not their values);
 * `entries()` then reads the values in key order. The revision is the db's newest.
 */
export async function openEtcdDatabase(
  path: string,
  options: EtcdDatabaseOptions = {},
): Promise<EtcdDatabaseReadPoint> {
  const file = await BoltFile.open(path);
  try {
    const bucket = await findBucket(file, KEY_BUCKET);
    if (!bucket) {
      throw new VsnapError(
        "INTEGRITY",
        `${path} is a bbolt file without etcd's "key" bucket: not an etcd database`,
        {
          hint: "pass an etcd snapshot (etcdctl snapshot save) or a member's member/snap/db",
        },
      );
    }
    const latest = new Map<string, Location>();
    let revision = 0;
    let revisions = 0;
    for await (const element of walkBucket(file, bucket)) {
      const rk = element.key;
      if (rk.length !== REVISION_KEY_SIZE && rk.length !== REVISION_KEY_SIZE + 1) {
        throw new VsnapError(
          "INTEGRITY",
          `${path}: "key" bucket entry of ${rk.length} bytes is not an etcd revision`,
        );
      }
      if ((++revisions & 0xfff) === 0) throwIfAborted(options.signal, "reading the etcd db");
      revision = Math.max(revision, Number(rk.readBigUInt64BE(0)));
      const kv = decodeMvccKeyValue(element.value);
      if (!isSnapshotKey(kv.key)) continue;
      const name = kv.key.toString("latin1"); // one char per byte: sorts in byte order
      if (rk.length === REVISION_KEY_SIZE + 1 && rk[REVISION_KEY_SIZE] === TOMBSTONE_MARK) {
        latest.delete(name);
        continue;
      }
      const offset =
        kv.value.length === 0 ? 0 : element.valueOffset + (kv.value.byteOffset - element.value.byteOffset);
      latest.set(name, { offset, length: kv.value.length });
    }
    if (options.skipKeys)
      for (const key of options.skipKeys) latest.delete(Buffer.from(key).toString("latin1"));
    let bytes = 0;
    for (const location of latest.values()) bytes += location.length;
    let closed = false;
    return {
      mode: "kv",
      kind: "etcd",
      revision,
      revisions,
      totals: { keys: latest.size, bytes },
      entries: (signal?: AbortSignal) => readInKeyOrder(file, latest, signal ?? options.signal),
      async close() {
        if (closed) return;
        closed = true;
        await file.close();
        await options.onClose?.();
      },
    };
  } catch (error) {
    await file.close();
    await options.onClose?.();
    throw error;
  }
}

async function* readInKeyOrder(
  file: BoltFile,
  latest: ReadonlyMap<string, Location>,
  signal: AbortSignal | undefined,
): AsyncGenerator<KeyValue> {
  const names = [...latest.keys()].sort();
  const read = (name: string): Promise<KeyValue> => {
    const { offset, length } = latest.get(name)!;
    const key = keyToString(Buffer.from(name, "latin1"));
    if (length === 0) return Promise.resolve({ key, value: Buffer.alloc(0) });
    return file.read(offset, length).then((value) => ({ key, value }));
  };
  const window: Promise<KeyValue>[] = [];
  let next = 0;
  while (next < names.length || window.length > 0) {
    while (window.length < READ_AHEAD && next < names.length) {
      const p = read(names[next++]!);
      p.catch(() => undefined); // awaited in order below
      window.push(p);
    }
    throwIfAborted(signal, "reading the etcd db");
    yield await window.shift()!;
  }
}

/**
 * The db's revision (its newest `key` bucket entry) by descending the right edge of the tree:
 * a few page reads, where `etcdctl snapshot status` hashes the whole file.
 */
export async function readEtcdDatabaseRevision(path: string): Promise<number> {
  const file = await BoltFile.open(path);
  try {
    const bucket = await findBucket(file, KEY_BUCKET);
    if (!bucket) throw new VsnapError("INTEGRITY", `${path} has no etcd "key" bucket: not an etcd database`);
    let page = "inline" in bucket ? bucket.inline : await file.page(bucket.pgid);
    for (let depth = 0; page.flags & BRANCH_PAGE; depth++) {
      if (depth > 64 || page.count === 0)
        throw new VsnapError("INTEGRITY", `${path}: malformed "key" bucket tree`);
      page = await file.page(branchChild(page, page.count - 1));
    }
    if (page.count === 0) return 0;
    const last = leafElement(page, page.count - 1);
    return Number(last.key.readBigUInt64BE(0));
  } finally {
    await file.close();
  }
}
