import { createHash } from "node:crypto";
import { VsnapError } from "@vsnap/core";

/** etcd appends SHA-256(db) to every Maintenance/Snapshot stream; `etcdctl snapshot restore` checks it. */
export const TRAILER_SIZE = 32;

export interface DbCheckResult {
  /** Bytes of the bbolt file, trailer excluded. */
  readonly dbSize: number;
  /** Whether a trailer was present (and matched). */
  readonly hasTrailer: boolean;
  readonly sha256: string;
}

/**
 * Passes a db stream through while hashing it, holding back the last 32 bytes until the end so
 * that a consumer never sees the trailer of a stream that turns out corrupt: the stream throws
 * INTEGRITY instead. Mirrors etcd's rule: total size % 512 == 32 means a trailer is present,
 * % 512 == 0 means a bare bbolt file (copied from a data dir), anything else is not a db.
 */
export async function* checkDbTrailer(
  chunks: AsyncIterable<Uint8Array>,
  options: {
    expectedSize?: number;
    requireTrailer?: boolean;
    onResult?: (r: DbCheckResult) => void;
    what?: string;
  } = {},
): AsyncGenerator<Uint8Array> {
  const what = options.what ?? "etcd db snapshot";
  const hash = createHash("sha256");
  let tail = Buffer.alloc(0);
  let total = 0;
  for await (const chunk of chunks) {
    if (chunk.length === 0) continue;
    total += chunk.length;
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (tail.length + bytes.length <= TRAILER_SIZE) {
      tail = Buffer.concat([tail, bytes]);
      continue;
    }
    // Release everything but the last 32 bytes seen, without copying the chunk: first what of the
    // held-back tail is no longer last, then the chunk up to its own last bytes.
    const keep = Math.min(TRAILER_SIZE, bytes.length);
    const released = tail.length - (TRAILER_SIZE - keep);
    // copied: `chunk` may be reused by the producer once we yield
    const nextTail = Buffer.concat([tail.subarray(released), bytes.subarray(bytes.length - keep)]);
    if (released > 0) {
      const part = tail.subarray(0, released);
      hash.update(part);
      yield part;
    }
    const body = bytes.subarray(0, bytes.length - keep);
    if (body.length > 0) {
      hash.update(body);
      yield body;
    }
    tail = nextTail;
  }
  if (options.expectedSize !== undefined && total !== options.expectedSize) {
    throw new VsnapError(
      "INTEGRITY",
      `${what} is truncated: got ${total} bytes, expected ${options.expectedSize}`,
      {
        hint: "the stream ended early; take the snapshot again",
      },
    );
  }
  const remainder = total % 512;
  if (remainder === TRAILER_SIZE) {
    const actual = hash.digest();
    if (!actual.equals(tail)) {
      throw new VsnapError(
        "INTEGRITY",
        `${what} is corrupt: its SHA-256 trailer is ${tail.toString("hex")} but the data hashes to ${actual.toString("hex")}`,
        { hint: "the db bytes were altered or truncated; use another snapshot" },
      );
    }
    options.onResult?.({ dbSize: total - TRAILER_SIZE, hasTrailer: true, sha256: actual.toString("hex") });
    yield tail;
    return;
  }
  if (remainder === 0 && !options.requireTrailer && total > 0) {
    hash.update(tail);
    options.onResult?.({ dbSize: total, hasTrailer: false, sha256: hash.digest("hex") });
    yield tail;
    return;
  }
  throw new VsnapError(
    "INTEGRITY",
    options.requireTrailer && remainder === 0
      ? `${what} has no SHA-256 trailer (${total} bytes)`
      : `${what} is not an etcd snapshot: ${total} bytes is neither a bbolt file nor one followed by a SHA-256 trailer`,
    { hint: "the db entry is truncated or not etcd's" },
  );
}
