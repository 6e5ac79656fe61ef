import type { ArchiveManifest, ArchiveMetadata } from "./archive/format.js";
import {
  type ArchiveEntry,
  ArchiveMetadataCollector,
  type ArchiveSummary,
  archiveKeyValues,
  readArchive,
  verifyArchive,
  writeArchive,
} from "./archive/index.js";
import { integrityError } from "./archive/integrity.js";
import type {
  KeyValue,
  KeyValueReadPoint,
  RestoreOptions,
  RestoreResult,
  RestoreTarget,
  SnapshotSource,
} from "./backing.js";
import { VsnapError } from "./errors.js";
import type { ObjectInfo, Store } from "./store.js";
import { markTransient } from "./transient.js";

/** Where a snapshot or restore stands; reported often, so keep handlers cheap. */
export interface SnapshotProgress {
  readonly phase: "reading" | "verifying" | "restoring";
  /** Backing-store keys handled so far. */
  readonly keys: number;
  readonly totalKeys?: number;
  /** Backing-store bytes (values or db) handled so far. */
  readonly bytes: number;
  readonly totalBytes?: number;
  /** Compressed archive bytes written or read so far. */
  readonly archiveBytes: number;
}

export interface TakeSnapshotOptions {
  readonly source: SnapshotSource;
  readonly store: Store;
  /** The object key within the store (ParsedLocation.key). */
  readonly key: string;
  readonly metadata?: ArchiveMetadata;
  readonly toolVersion: string;
  readonly compressionLevel?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: SnapshotProgress) => void;
}

export interface SnapshotResult {
  readonly info: ObjectInfo;
  readonly manifest: ArchiveManifest;
}

/** Annotations stores keep beside an archive so listings need no download (OCI, S3 metadata). */
export function manifestAnnotations(manifest: ArchiveManifest): Record<string, string> {
  return {
    "dev.vsnap.archive.sha256": manifest.sha256,
    "dev.vsnap.archive.keys": String(manifest.keys),
    "dev.vsnap.archive.bytes": String(manifest.bytes),
    "dev.vsnap.backing-store": manifest.backingStore,
    "dev.vsnap.mode": manifest.mode,
    "dev.vsnap.tool-version": manifest.toolVersion,
    ...(manifest.revision === undefined ? {} : { "dev.vsnap.revision": String(manifest.revision) }),
  };
}

/**
 * Reads the source at one consistent point and streams the archive into the store. The store's
 * atomic put means a failed or aborted snapshot never becomes visible as a good one.
 */
export async function takeSnapshot(options: TakeSnapshotOptions): Promise<SnapshotResult> {
  const { source, store, key, signal, onProgress } = options;
  const readPoint = await source.open(signal ? { signal } : {});
  try {
    const totals = readPoint.totals;
    let keys = 0;
    let bytes = 0;
    let archiveBytes = 0;
    const report = () =>
      onProgress?.({
        phase: "reading",
        keys,
        bytes,
        archiveBytes,
        ...(totals.keys === undefined ? {} : { totalKeys: totals.keys }),
        ...(totals.bytes === undefined ? {} : { totalBytes: totals.bytes }),
      });
    const { stream, done } = writeArchive({
      readPoint,
      metadata: options.metadata ?? {},
      toolVersion: options.toolVersion,
      ...(options.compressionLevel === undefined ? {} : { compressionLevel: options.compressionLevel }),
      ...(signal ? { signal } : {}),
      onProgress: (p) => {
        keys = p.keys;
        bytes = p.bytes;
        report();
      },
    });
    // a rejected `done` also errors `stream`, which fails the put; keep it from going unhandled
    done.catch(() => {});
    let manifest: ArchiveManifest | undefined;
    // the store sees the end of the body only once the manifest is known, so annotations can use it
    async function* body(): AsyncIterable<Uint8Array> {
      yield* stream;
      manifest = await done;
    }
    // the archive stream's chunks are gzip members made for this put alone
    const info = await store.put(key, markTransient(body()), {
      ...(signal ? { signal } : {}),
      onProgress: (p) => {
        archiveBytes = p.bytes;
        report();
      },
      annotations: () => (manifest ? manifestAnnotations(manifest) : {}),
    });
    return { info, manifest: await done };
  } finally {
    await readPoint.close();
  }
}

export interface ReadSnapshotOptions {
  readonly store: Store;
  readonly key: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: SnapshotProgress) => void;
}

/** Streams the whole archive once and proves it whole (manifest digest, counts, gzip CRC). */
export async function verifySnapshot(options: ReadSnapshotOptions): Promise<ArchiveSummary> {
  const { store, key, signal, onProgress } = options;
  const object = await store.get(key, signal ? { signal } : {});
  return verifyArchive(object.body, {
    ...(signal ? { signal } : {}),
    ...(onProgress
      ? {
          onProgress: (p: { keys: number; bytes: number; compressedBytes: number }) =>
            onProgress({ phase: "verifying", keys: p.keys, bytes: p.bytes, archiveBytes: p.compressedBytes }),
        }
      : {}),
  });
}

export interface RestoreSnapshotOptions extends ReadSnapshotOptions {
  readonly target: RestoreTarget;
  readonly force?: boolean;
  /**
   * Turns an etcd db-mode archive into a key/value read point for a key/value target (e.g.
   * `dbArchiveToKeyValues` of @vsnap/backing-etcd, which reads etcd's bbolt file directly).
   * Without it a db archive is refused for such targets.
   */
  readonly convertDatabase?: (
    archive: AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
  ) => Promise<KeyValueReadPoint>;
}

export interface RestoreSnapshotResult {
  readonly summary: ArchiveSummary;
  readonly result: RestoreResult;
}

/**
 * Verifies the whole archive first (a corrupt archive changes nothing), then streams it a
 * second time into the target. The second pass is verified again as it goes, and targets
 * commit only when their input ended cleanly, so an object that changed between the passes
 * cannot be half-applied. A staged target (nothing visible before its input ended cleanly) reads
 * a vsnap key/value archive once: the same checks end that single pass, before the target commits.
 */
export async function restoreSnapshot(options: RestoreSnapshotOptions): Promise<RestoreSnapshotResult> {
  if (options.target.staged) {
    const once = await restoreInOnePass(options);
    if (once) return once;
  }
  return restoreAfterVerifying(options);
}

/**
 * The single pass of a staged restore: the metadata before the first key (vsnap writes the
 * revision there) is read first; an archive without it (vCluster's, or a db snapshot) returns
 * undefined before the target has seen anything, for the verify-first path.
 */
async function restoreInOnePass(options: RestoreSnapshotOptions): Promise<RestoreSnapshotResult | undefined> {
  const { store, key, target, signal } = options;
  const object = await store.get(key, signal ? { signal } : {});
  let archiveBytes = 0;
  const reader = readArchive(object.body, {
    ...(signal ? { signal } : {}),
    onProgress: (p) => {
      archiveBytes = p.compressedBytes;
    },
  });
  const entries = reader[Symbol.asyncIterator]();
  const metadata = new ArchiveMetadataCollector();
  let first: ArchiveEntry | undefined;
  for (let next = await entries.next(); !next.done; next = await entries.next()) {
    if (next.value.kind === "key" || next.value.kind === "db") {
      first = next.value;
      break;
    }
    await metadata.take(next.value);
  }
  const revision = metadata.revision;
  if (first?.kind !== "key" || revision === undefined) {
    await entries.return?.();
    return undefined;
  }
  const firstKey = first;
  async function* keyValues(): AsyncGenerator<KeyValue> {
    let ended = false;
    try {
      yield { key: firstKey.name, value: await firstKey.bytes() };
      for (let next = await entries.next(); !next.done; next = await entries.next()) {
        const entry = next.value;
        if (entry.kind === "key") yield { key: entry.name, value: await entry.bytes() };
        else if (entry.kind === "db")
          throw integrityError("archive is corrupt: a db entry among key entries");
        else await metadata.take(entry);
      }
      ended = true;
    } finally {
      if (!ended) await entries.return?.(); // the target stopped early: let go of the object
    }
  }
  // each value is read out of the archive for the target alone
  const result = await target.restore(
    markTransient(keyValues()),
    targetOptions(options, revision, (keys, bytes) => ({ phase: "restoring", keys, bytes, archiveBytes })),
  );
  // A staged target has read every entry, so the reader's final checks have passed.
  return { summary: metadata.summary(reader), result };
}

/** What either restore path hands its target: the revision to move past, force, signal, progress. */
function targetOptions(
  options: RestoreSnapshotOptions,
  revision: number | undefined,
  progress: (keys: number, bytes: number) => SnapshotProgress,
): RestoreOptions {
  const { signal, onProgress } = options;
  return {
    ...(revision === undefined ? {} : { revision }),
    ...(options.force === undefined ? {} : { force: options.force }),
    ...(signal ? { signal } : {}),
    ...(onProgress ? { onProgress: (keys: number, bytes: number) => onProgress(progress(keys, bytes)) } : {}),
  };
}

async function restoreAfterVerifying(options: RestoreSnapshotOptions): Promise<RestoreSnapshotResult> {
  const { store, key, target, signal } = options;
  const summary = await verifySnapshot(options);
  if (summary.mode === "db" && !options.convertDatabase) {
    throw new VsnapError(
      "UNSUPPORTED",
      `${key} holds an etcd db snapshot, which cannot be restored into ${target.description} directly`,
      {
        hint: "restore it into an etcd data directory with --etcd-data-dir, or install @vsnap/backing-etcd to convert it",
      },
    );
  }
  const object = await store.get(key, signal ? { signal } : {});
  const converted = summary.mode === "db" ? await options.convertDatabase!(object.body, signal) : undefined;
  const keyValues = converted
    ? converted.entries(signal)
    : archiveKeyValues(readArchive(object.body, signal ? { signal } : {}));
  const revision = converted ? converted.revision : summary.revision;
  try {
    const result = await target.restore(
      keyValues,
      targetOptions(options, revision, (keys, bytes) => ({
        phase: "restoring",
        keys,
        bytes,
        archiveBytes: 0,
        ...(summary.mode === "kv" ? { totalKeys: summary.keys, totalBytes: summary.bytes } : {}),
      })),
    );
    return { summary, result };
  } finally {
    await converted?.close();
  }
}
