import type { ProgressListener } from "./store.js";

/** One live key of a backing store. Keys are the store's raw keys, e.g. `/registry/pods/ns/x`. */
export interface KeyValue {
  readonly key: string;
  readonly value: Uint8Array;
}

/** The kind of backing store a snapshot was taken from (recorded in the manifest). */
export type BackingStoreKind = "sqlite" | "etcd" | (string & {});

export interface SourceTotals {
  /** Number of keys that will be read, when cheap to know up front. */
  readonly keys?: number;
  /** Bytes of values (kv) or of the db stream (db), when known up front. */
  readonly bytes?: number;
}

export interface EntriesOptions {
  /**
   * The caller is done with an entry's bytes before it asks for the next one (it copies what it
   * keeps), so the source may free their memory then. Freed at once, a snapshot's buffers never
   * pile up waiting for V8's next full collection (docs/benchmarks.md).
   */
  readonly transient?: boolean;
}

/**
 * Frees the memory behind `view` at once instead of at V8's next full collection, when `view` is
 * all of its ArrayBuffer (give or take a `slack`-byte prefix, such as gRPC's frame header): the
 * buffer is detached, and every view of it reads as empty. Only for memory the caller alone
 * holds. Views into Node's shared Buffer pool (never more than half of it), shared and
 * non-detachable buffers are left alone.
 */
export function releaseView(view: Uint8Array, slack = 0): void {
  const { buffer } = view;
  if (
    // (not `instanceof`: buffers made by Node's C++ side may come from another realm, as in vitest)
    Object.prototype.toString.call(buffer) !== "[object ArrayBuffer]" ||
    (buffer as ArrayBuffer).detached ||
    view.byteLength === 0 ||
    view.byteOffset > slack ||
    view.byteOffset + view.byteLength !== buffer.byteLength
  ) {
    return;
  }
  try {
    (buffer as ArrayBuffer).transfer(0);
  } catch {
    // not detachable (memory Node or an addon keeps): the collector frees it in time
  }
}

/** A consistent read point of a backing store, in key/value form: every live key at one revision. */
export interface KeyValueReadPoint {
  readonly mode: "kv";
  readonly kind: BackingStoreKind;
  readonly revision: number;
  readonly totals: SourceTotals;
  /** Live keys in ascending byte order, `/vcluster/snapshot/` excluded; bounded memory. */
  entries(signal?: AbortSignal, options?: EntriesOptions): AsyncIterable<KeyValue>;
  close(): Promise<void>;
}

/** A consistent read point in the backing store's own binary form (etcd's db snapshot). */
export interface DatabaseReadPoint {
  readonly mode: "db";
  readonly kind: BackingStoreKind;
  readonly revision: number;
  readonly totals: SourceTotals;
  /**
   * The db bytes; `size` must be exact (a tar header needs it before the body). With `transient`,
   * the caller is done with each chunk before it asks for the next, as for entries.
   */
  database(
    signal?: AbortSignal,
    options?: EntriesOptions,
  ): Promise<{ size: number; chunks: AsyncIterable<Uint8Array> }>;
  close(): Promise<void>;
}

export type ReadPoint = KeyValueReadPoint | DatabaseReadPoint;

/** Anything vsnap can take a snapshot of. */
export interface SnapshotSource {
  readonly kind: BackingStoreKind;
  /** A human description for progress and errors, credentials masked. */
  readonly description: string;
  open(options?: { signal?: AbortSignal }): Promise<ReadPoint>;
}

export interface RestoreOptions {
  /** Revision recorded in the snapshot; the target's revision is set past it. */
  readonly revision?: number;
  /** Overwrite a non-empty target (cleared first). */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (keys: number, bytes: number) => void;
}

export interface RestoreResult {
  readonly keys: number;
  readonly bytes: number;
  /** The revision the target now reports. */
  readonly revision: number;
}

/** Anything vsnap can restore key/value entries into. Writes nothing visible until it succeeds, where the store allows. */
export interface RestoreTarget {
  readonly kind: BackingStoreKind;
  readonly description: string;
  /**
   * True when nothing the target writes is visible until it has read `entries` to their end (e.g. a
   * new file renamed into place): a corrupt archive, found at the latest by the read's final
   * checks, then changes nothing, so a restore reads the archive once instead of verifying first.
   */
  readonly staged?: boolean;
  /** Fails with FAILED_PRECONDITION when the target holds data and `force` is not set. */
  restore(entries: AsyncIterable<KeyValue>, options?: RestoreOptions): Promise<RestoreResult>;
}

export type { ProgressListener };
