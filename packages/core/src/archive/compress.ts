import { once } from "node:events";
import { availableParallelism } from "node:os";
import { crc32, createDeflateRaw } from "node:zlib";
import { type Compressed, DEFLATE_MEM_LEVEL, sharedGzipMembers } from "./deflate-threads.js";
import { gzipHeader, gzipTrailer } from "./gzip.js";

export type CompressionMode = "parallel" | "single";

/**
 * Turns tar blocks into gzip members, in order. Blocks are handed over: the caller must not touch
 * a block again until its memory comes back through `recycle`.
 */
export type Compressor = (
  blocks: AsyncIterable<Uint8Array>,
  signal: AbortSignal,
  /** Receives the memory of blocks done with, for reuse. */
  recycle?: (memory: ArrayBuffer) => void,
) => AsyncGenerator<Buffer>;

export function defaultCompressionMode(): CompressionMode {
  return availableParallelism() > 1 ? "parallel" : "single";
}

export function createCompressor(mode: CompressionMode, level: number): Compressor {
  return mode === "parallel"
    ? (blocks, signal, recycle) => parallelGzip(blocks, level, signal, recycle)
    : (blocks, signal) => singleGzip(blocks, level, signal);
}

// ---------------------------------------------------------------------------------------------
// Single: one gzip member for everything, deflated by zlib on libuv's thread pool.

async function* singleGzip(
  blocks: AsyncIterable<Uint8Array>,
  level: number,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  const deflate = createDeflateRaw({ level, memLevel: DEFLATE_MEM_LEVEL, chunkSize: 256 * 1024 });
  const stop = new AbortController();
  let crc = 0;
  let length = 0;
  const feeder = (async () => {
    try {
      for await (const block of blocks) {
        crc = crc32(block, crc);
        length += block.length;
        if (!deflate.write(block)) {
          await once(deflate, "drain", { signal: AbortSignal.any([signal, stop.signal]) });
        }
      }
      deflate.end();
    } catch (error) {
      deflate.destroy(error as Error);
    }
  })();
  try {
    yield gzipHeader(level);
    for await (const chunk of deflate) yield chunk as Buffer;
    await feeder;
    yield gzipTrailer(crc, length);
  } finally {
    stop.abort();
    deflate.destroy();
    await feeder;
  }
}

// ---------------------------------------------------------------------------------------------
// Parallel: each block becomes an independent gzip member, deflated on libuv's thread pool.

async function* parallelGzip(
  blocks: AsyncIterable<Uint8Array>,
  level: number,
  signal: AbortSignal,
  recycle: ((memory: ArrayBuffer) => void) | undefined,
): AsyncGenerator<Buffer> {
  const deflater = sharedGzipMembers();
  // Each lane holds its next block while deflating one: memory stays near 2 x lanes blocks.
  const limit = deflater.concurrency * 2;
  const inflight: { promise: Promise<Compressed>; settled: boolean }[] = [];
  const next = async () => {
    const { member, input } = await inflight.shift()!.promise;
    if (input && recycle) recycle(input);
    return member;
  };
  try {
    for await (const block of blocks) {
      signal.throwIfAborted();
      const entry = { promise: deflater.compress(block, level), settled: false };
      const settle = () => {
        entry.settled = true;
      };
      entry.promise.then(settle, settle);
      inflight.push(entry);
      while (inflight.length > 0 && (inflight.length >= limit || inflight[0]!.settled)) yield await next();
    }
    while (inflight.length > 0) yield await next();
  } finally {
    // Blocks still being deflated finish on the pool; their results are dropped.
    for (const entry of inflight) entry.promise.catch(() => {});
  }
}
