import {
  isTransient,
  type KeyValue,
  type RestoreOptions,
  type RestoreResult,
  type RestoreTarget,
  releaseView,
  throwIfAborted,
  VsnapError,
} from "@vsnap/core";
import { EtcdClient } from "./client.js";
import { KeyValueDigest } from "./digest.js";
import { isTooLarge, isTooManyOps } from "./errors.js";
import { encodePutTxn, type PutRequest, putOpSize } from "./grpc/messages.js";
import { isMetadataKey, ROOT_RANGE, SNAPSHOT_RANGES } from "./keys.js";
import type { EtcdConnectionOptions } from "./options.js";
import { DEFAULT_PAGE_BYTES, DEFAULT_PAGE_SIZE, readPinned } from "./source.js";

export interface EtcdTargetOptions extends EtcdConnectionOptions {
  /** Puts per transaction (default 128, etcd's default --max-txn-ops; halved automatically if etcd refuses). */
  readonly batchKeys?: number;
  /** Bytes per transaction (default 1 MiB, under etcd's default --max-request-bytes of 1.5 MiB). */
  readonly batchBytes?: number;
  /** Transactions in flight at once (default 4). */
  readonly concurrency?: number;
  /**
   * How far past the snapshot's revision the target must be before keys are written (default
   * 1000, as vCluster); `false` skips the bump.
   */
  readonly revisionBump?: number | false;
  /**
   * Most revisions the bump may add (default 200,000). etcd has no "set revision": each one is a
   * transaction (thousands per second), so a far larger gap fails up front with a clear error.
   */
  readonly maxRevisionBump?: number;
  /** Compact history at the restored revision so stale watches re-list (default true, as vCluster). */
  readonly compact?: boolean;
  /** Read everything back and compare count and digest (default true). */
  readonly verify?: boolean;
}

export interface EtcdRestoreSettings {
  /** Clear a non-empty keyspace (every key under `/`) before writing. */
  readonly force?: boolean;
  /** Told about steps a person should know of: clearing keys, bumping the revision, compaction. */
  readonly onNotice?: (message: string) => void;
}

export interface EtcdRestoreResult extends RestoreResult {
  /** Keys deleted by `force` before writing. */
  readonly cleared: number;
  /** Archive-metadata keys (`/vcluster/snapshot/`) that were not written. */
  readonly skipped: number;
  /** Revisions added before writing so the restored keys sit past the snapshot's revision. */
  readonly revisionBump: number;
  /** Order-independent digest of the restored key/values, verified by reading them back. */
  readonly digest: string;
  readonly verified: boolean;
  readonly compactedAt?: number;
}

/** A RestoreTarget whose result also tells what was cleared, bumped and verified. */
export interface EtcdRestoreTarget extends RestoreTarget {
  restore(entries: AsyncIterable<KeyValue>, options?: RestoreOptions): Promise<EtcdRestoreResult>;
}

export const DEFAULT_BATCH_KEYS = 128;
export const DEFAULT_BATCH_BYTES = 1024 * 1024;
export const DEFAULT_CONCURRENCY = 4;
/** vCluster's BumpRevision: restored objects get resourceVersions well past any a client saw (kubernetes#118501). */
export const DEFAULT_REVISION_BUMP = 1000;
const BUMP_KEY = Buffer.from("/vcluster/snapshot/vsnap/revision-bump");
export const DEFAULT_MAX_REVISION_BUMP = 200_000;
const BUMP_CONCURRENCY = 128;

/**
 * A restore target writing into a live etcd (vCluster's deployed or external etcd).
 *
 * Steps: refuse a non-empty keyspace under `/` (or clear it with `force`); raise the revision past
 * `snapshot revision + revisionBump` when the target is behind it, so every restored object gets a
 * resourceVersion greater than any a Kubernetes client may have cached (otherwise watches and
 * informers see revisions go backwards: "too large resource version", missed events); write in
 * batched transactions, several in flight; read everything back at the final revision and compare
 * count and digest; compact there so watches from before the restore get "compacted" and re-list.
 * etcd cannot apply a large restore atomically: a failure part-way leaves a partial keyspace, and
 * re-running with `force` is the recovery.
 */
export function etcdTarget(
  options: EtcdTargetOptions,
  settings: EtcdRestoreSettings = {},
): EtcdRestoreTarget {
  const endpoints = typeof options.endpoints === "string" ? options.endpoints : options.endpoints.join(",");
  return {
    kind: "etcd",
    description: `etcd ${endpoints}`,
    async restore(entries, restoreOptions = {}) {
      const signal = restoreOptions.signal;
      const { client } = await EtcdClient.connect(options, signal);
      try {
        return await runRestore(client, entries, options, { ...settings, ...definedOnly(restoreOptions) });
      } finally {
        client.close();
      }
    },
  };
}

function definedOnly(o: RestoreOptions): RestoreOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as RestoreOptions;
}

async function runRestore(
  client: EtcdClient,
  entries: AsyncIterable<KeyValue>,
  options: EtcdTargetOptions,
  run: RestoreOptions & EtcdRestoreSettings,
): Promise<EtcdRestoreResult> {
  const { signal } = run;
  const notice = run.onNotice ?? (() => undefined);

  // archive-metadata keys do not count (a snapshot never reads them; a crashed bump may leave one)
  const counted = await client.txn(
    SNAPSHOT_RANGES.map((r) => ({ range: { key: r.key, rangeEnd: r.rangeEnd, countOnly: true } })),
    { signal },
  );
  const existing = { count: 0 };
  for (const op of counted.responses) if ("range" in op) existing.count += op.range.count;
  let revision = counted.header.revision;
  let cleared = 0;
  if (existing.count > 0) {
    if (!run.force) {
      throw new VsnapError(
        "FAILED_PRECONDITION",
        `etcd ${client.endpoint} already holds ${existing.count} keys under "/"; refusing to restore over them`,
        { hint: "restore into an empty etcd, or pass --force to delete every key under / first" },
      );
    }
    const deleted = await client.deleteRange(ROOT_RANGE.key, ROOT_RANGE.rangeEnd, { signal });
    cleared = deleted.deleted;
    revision = deleted.header.revision;
    notice(`--force: deleted ${cleared} existing keys under "/" on etcd ${client.endpoint} before restoring`);
  }

  const bump = options.revisionBump ?? DEFAULT_REVISION_BUMP;
  let revisionBump = 0;
  if (bump !== false && run.revision !== undefined && revision < run.revision + bump) {
    const target = run.revision + bump;
    const limit = options.maxRevisionBump ?? DEFAULT_MAX_REVISION_BUMP;
    if (target - revision > limit) {
      throw new VsnapError(
        "FAILED_PRECONDITION",
        `etcd ${client.endpoint} is at revision ${revision}, ${target - revision} behind the snapshot's revision ${run.revision} + ${bump}; raising it takes one transaction per revision (limit ${limit})`,
        {
          hint: "restore into the etcd the snapshot came from (or one that is further along), restore a db-mode snapshot into a data dir (etcdutl --bump-revision), or skip the bump (revisionBump: false) and restart every client of the vCluster",
        },
      );
    }
    notice(
      `raising etcd's revision from ${revision} to ${target} (snapshot revision ${run.revision} + ${bump}) so restored objects get newer resourceVersions than any client has seen`,
    );
    const before = revision;
    revision = await bumpRevision(client, target, signal);
    revisionBump = revision - before;
  }

  const written = await writeBatches(client, entries, options, run);
  revision = Math.max(revision, written.revision);

  let verified = false;
  if (options.verify ?? true) {
    await verifyRestore(client, revision, written.digest, signal);
    verified = true;
  }

  let compactedAt: number | undefined;
  if ((options.compact ?? true) && written.digest.count > 0) {
    try {
      await client.compact(revision, true, { signal });
      compactedAt = revision;
    } catch (error) {
      // someone compacted further already: the goal (no history before the restore) is met
      if (!VsnapError.is(error, "CONFLICT")) throw error;
    }
  }
  return {
    keys: written.digest.count,
    bytes: written.digest.bytes,
    revision,
    cleared,
    skipped: written.skipped,
    revisionBump,
    digest: written.digest.hex(),
    verified,
    ...(compactedAt !== undefined ? { compactedAt } : {}),
  };
}

/**
 * etcd has no "set revision": every transaction adds exactly one. So the bump is `target - current`
 * tiny transactions on a scratch key under the archive-metadata prefix (which snapshots skip),
 * many in flight so etcd batches them into few disk syncs; the last one deletes the key.
 */
async function bumpRevision(
  client: EtcdClient,
  target: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  let revision = (await client.status({ signal })).header.revision;
  const track = (r: { header: { revision: number } }) => {
    revision = Math.max(revision, r.header.revision);
  };
  while (revision < target) {
    // puts first (all of them, many in flight), then the delete: a delete of nothing adds no revision
    const puts = Math.max(1, target - revision - 1);
    // a counter and one waiter, not Promise.race over the set: each race adds a reaction to every
    // pending put, which at 128 in flight and thousands of puts grew the heap by tens of MiB
    let active = 0;
    let wake: (() => void) | undefined;
    const settled = () => {
      active--;
      const w = wake;
      wake = undefined;
      w?.();
    };
    const slot = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
      });
    let failure: unknown;
    for (let i = 0; i < puts && failure === undefined; i++) {
      throwIfAborted(signal, "revision bump");
      active++;
      client
        .txn([{ put: { key: BUMP_KEY, value: Buffer.alloc(0) } }], { signal })
        .then(track, (error: unknown) => {
          failure ??= error;
        })
        .finally(settled);
      while (active >= BUMP_CONCURRENCY) await slot();
    }
    while (active > 0) await slot();
    if (failure !== undefined) throw failure;
    track(await client.txn([{ deleteRange: { key: BUMP_KEY } }], { signal }));
  }
  return revision;
}

interface Written {
  readonly digest: KeyValueDigest;
  readonly revision: number;
  readonly skipped: number;
}

async function writeBatches(
  client: EtcdClient,
  entries: AsyncIterable<KeyValue>,
  options: EtcdTargetOptions,
  run: RestoreOptions,
): Promise<Written> {
  const { signal, onProgress } = run;
  let maxKeys = Math.max(1, options.batchKeys ?? DEFAULT_BATCH_KEYS);
  const maxBytes = Math.max(1, options.batchBytes ?? DEFAULT_BATCH_BYTES);
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const digest = new KeyValueDigest();
  // a marked stream's values are ours: each batch's are freed once etcd has them
  const transient = isTransient(entries);
  let revision = 0;
  let skipped = 0;
  let committedKeys = 0;
  let committedBytes = 0;
  let failure: unknown;
  const inFlight = new Set<Promise<void>>();

  const commit = async (batch: PutRequest[]): Promise<void> => {
    try {
      const request = encodePutTxn(batch);
      const response = await client.txnEncoded(request, { signal });
      // sent and answered: nothing reads it again, so free it now rather than at a full collection
      releaseView(request);
      revision = Math.max(revision, response.header.revision);
      committedKeys += batch.length;
      for (const put of batch) {
        committedBytes += put.value.length;
        if (transient) releaseView(put.value);
      }
      onProgress?.(committedKeys, committedBytes);
    } catch (error) {
      if (batch.length > 1 && (isTooManyOps(error) || isTooLarge(error))) {
        // etcd runs with smaller limits than the defaults: halve and carry on (a failed txn wrote nothing)
        if (isTooManyOps(error)) maxKeys = Math.max(1, Math.min(maxKeys, Math.floor(batch.length / 2)));
        const half = Math.ceil(batch.length / 2);
        await commit(batch.slice(0, half));
        await commit(batch.slice(half));
        return;
      }
      if (isTooLarge(error)) {
        throw new VsnapError(
          "FAILED_PRECONDITION",
          `etcd ${client.endpoint} refused key ${batch[0]!.key.toString()} (${batch[0]!.value.length} bytes): larger than its --max-request-bytes`,
          {
            cause: error,
            hint: "start etcd with a larger --max-request-bytes (Kubernetes objects may reach 1.5 MiB)",
          },
        );
      }
      throw error;
    }
  };

  const send = async (batch: PutRequest[]) => {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    const p = commit(batch).catch((error: unknown) => {
      failure ??= error;
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  try {
    let batch: PutRequest[] = [];
    let batchBytes = 0;
    for await (const entry of entries) {
      if (failure !== undefined) throw failure;
      throwIfAborted(signal, "etcd restore");
      const key = Buffer.from(entry.key);
      if (isMetadataKey(key)) {
        skipped++;
        continue;
      }
      digest.add(key, entry.value);
      const size = putOpSize(key, entry.value);
      if (batch.length > 0 && (batch.length >= maxKeys || batchBytes + size > maxBytes)) {
        await send(batch);
        batch = [];
        batchBytes = 0;
      }
      batch.push({ key, value: entry.value });
      batchBytes += size;
    }
    if (batch.length > 0) await send(batch);
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
  } finally {
    // never leave a write running behind a thrown error
    await Promise.allSettled(inFlight);
  }
  return { digest, revision, skipped };
}

async function verifyRestore(
  client: EtcdClient,
  revision: number,
  expected: KeyValueDigest,
  signal: AbortSignal | undefined,
): Promise<void> {
  const actual = new KeyValueDigest();
  // each entry is digested before the next is asked for, so each page is freed once read (transient)
  for await (const kv of readPinned(client, revision, DEFAULT_PAGE_SIZE, DEFAULT_PAGE_BYTES, signal, true)) {
    actual.add(Buffer.from(kv.key), kv.value);
  }
  if (actual.count !== expected.count || actual.hex() !== expected.hex()) {
    throw new VsnapError(
      "INTEGRITY",
      `restore verification failed on etcd ${client.endpoint}: wrote ${expected.count} keys (digest ${expected.hex().slice(0, 16)}…) but read back ${actual.count} keys (digest ${actual.hex().slice(0, 16)}…) at revision ${revision}`,
      {
        hint: "something else wrote to etcd during the restore, or a write was lost; stop the vCluster and restore again with --force",
      },
    );
  }
}
