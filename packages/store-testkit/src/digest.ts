import { createHash } from "node:crypto";

export interface Digest {
  /** Lower-case hex SHA-256 of every byte. */
  readonly sha256: string;
  readonly bytes: number;
}

/** Hashes a stream as it goes by: bounded memory whatever the stream's size. */
export async function sha256Of(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Digest> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/**
 * Passes `body` through unchanged while hashing it; `digest()` is valid once the stream ended.
 * Lets a test check what a store actually received, not what it meant to send.
 */
export function hashing(body: AsyncIterable<Uint8Array>): {
  readonly body: AsyncIterable<Uint8Array>;
  digest(): Digest;
} {
  const hash = createHash("sha256");
  let bytes = 0;
  let result: Digest | undefined;
  return {
    body: {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of body) {
          hash.update(chunk);
          bytes += chunk.byteLength;
          yield chunk;
        }
        result = { sha256: hash.digest("hex"), bytes };
      },
    },
    digest() {
      if (!result) throw new Error("hashing: the stream has not been read to its end");
      return result;
    },
  };
}
