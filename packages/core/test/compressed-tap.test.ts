import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CompressedTap } from "../src/archive/compressed-tap.js";
import { verifyArchive } from "../src/archive/index.js";
import { markTransient } from "../src/transient.js";
import { archiveBytes, kv, kvReadPoint, METADATA, objectValue } from "./archive-helpers.js";

const KiB = 1024;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Copies of `data` cut at `sizes` (cycled), each chunk all of its own ArrayBuffer. */
function cut(data: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const size = Math.min(sizes[i % sizes.length]!, data.length - at);
    const chunk = Buffer.allocUnsafeSlow(size); // not from Node's shared pool: freeable
    data.copy(chunk, 0, at, at + size);
    chunks.push(chunk);
    at += size;
  }
  return chunks;
}

describe("compressed tap", () => {
  it("splits at any point of the last 64 KiB, whatever the chunk sizes, without keeping a chunk", () => {
    const data = randomBytes(900 * KiB + 123);
    const patterns = [[997], [7, 4095, 65_537, 3], [64 * KiB], [64 * KiB - 1], [300 * KiB], [100 * KiB, 5]];
    for (const sizes of patterns) {
      const points = [data.length, data.length - 1, data.length - 64 * KiB, data.length - 1000];
      for (const length of points) {
        const tap = new CompressedTap();
        for (const chunk of cut(data, sizes)) {
          tap.push(chunk);
          // what the tap still needs is its own copy: the caller's chunk may be freed at once
          (chunk.buffer as ArrayBuffer).transfer(0);
        }
        expect(tap.total).toBe(data.length);
        const split = tap.split(length);
        expect(split, `sizes ${sizes}, split at ${length}`).toBeDefined();
        expect(split!.sha256).toBe(sha256(data.subarray(0, length)));
        expect(split!.tail.equals(data.subarray(length))).toBe(true);
      }
    }
  });

  it("cannot split before the bytes it has already hashed, nor past the end", () => {
    const data = randomBytes(500 * KiB);
    const tap = new CompressedTap();
    for (const chunk of cut(data, [10 * KiB])) tap.push(chunk);
    expect(tap.split(data.length - 400 * KiB)).toBeUndefined();
    expect(tap.split(data.length + 1)).toBeUndefined();
  });

  it("a reader of a source marked transient frees each chunk once gunzipped, and only then", async () => {
    const keys = Array.from({ length: 400 }, (_, i) => kv(`/registry/k/${i}`, objectValue(i, 3000)));
    const { bytes, manifest } = await archiveBytes({ readPoint: kvReadPoint(keys), metadata: METADATA });
    for (const transient of [true, false]) {
      const chunks = cut(bytes, [32 * KiB, 5 * KiB, 200 * KiB]);
      async function* source() {
        yield* chunks;
      }
      // a chunk freed before gunzip read it would fail the CRC, the digests or the tar
      const summary = await verifyArchive(transient ? markTransient(source()) : source());
      expect(summary.keys).toBe(400);
      expect(summary.manifest?.sha256).toBe(manifest.sha256);
      const freed = chunks.filter((c) => (c.buffer as ArrayBuffer).detached).length;
      expect(freed, `transient ${transient}`).toBe(transient ? chunks.length : 0);
    }
  });
});
