import { createCipheriv, createHash } from "node:crypto";

export interface RandomStreamOptions {
  /**
   * Size of each chunk, or sizes used in turn (e.g. `[1, 4095, 65537]`) to hit a store's buffer
   * boundaries. Default 256 KiB.
   */
  readonly chunkSize?: number | readonly number[];
}

const DEFAULT_CHUNK_BYTES = 256 * 1024;

/**
 * `bytes` pseudo-random bytes derived from `seed`, as a stream that is never held whole in memory.
 * The same seed always gives the same bytes, and every iteration starts over, so a test can hash
 * the expected stream separately from the one it uploads. Each chunk is a fresh buffer that the
 * consumer may keep. The generator is AES-128-CTR (hardware accelerated: several GB/s).
 */
export function randomStream(
  bytes: number,
  seed: number | string = 1,
  options: RandomStreamOptions = {},
): AsyncIterable<Uint8Array> {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(`randomStream: bytes must be a non-negative integer, got ${bytes}`);
  }
  const sizes = typeof options.chunkSize === "number" ? [options.chunkSize] : [...(options.chunkSize ?? [])];
  if (sizes.length === 0) sizes.push(DEFAULT_CHUNK_BYTES);
  for (const size of sizes) {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`randomStream: chunk sizes must be positive integers, got ${size}`);
    }
  }
  const key = createHash("sha256").update(`vsnap-testkit:${seed}`).digest().subarray(0, 16);
  const zeros = Buffer.alloc(Math.max(...sizes));
  return {
    async *[Symbol.asyncIterator]() {
      const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
      let remaining = bytes;
      for (let i = 0; remaining > 0; i++) {
        const size = Math.min(remaining, sizes[i % sizes.length] ?? DEFAULT_CHUNK_BYTES);
        remaining -= size;
        yield cipher.update(zeros.subarray(0, size));
      }
    },
  };
}
