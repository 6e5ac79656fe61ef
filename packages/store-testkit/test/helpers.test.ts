import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hashing, randomStream, sha256Of } from "../src/index.js";

async function chunksOf(body: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks;
}

describe("randomStream", () => {
  it.each([0, 1, 262_143, 262_144, 262_145, 3_000_001])("yields exactly %i bytes", async (bytes) => {
    const chunks = await chunksOf(randomStream(bytes, 7));
    expect(chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0)).toBe(bytes);
    expect(chunks.every((chunk) => chunk.byteLength > 0 && chunk.byteLength <= 256 * 1024)).toBe(true);
  });

  it("uses the given chunk sizes in turn", async () => {
    const chunks = await chunksOf(randomStream(20, "s", { chunkSize: [1, 2, 3] }));
    expect(chunks.map((chunk) => chunk.byteLength)).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 1]);
  });

  it("is deterministic per seed, whatever the chunking, and starts over on every iteration", async () => {
    const stream = randomStream(1_000_003, "seed");
    const first = await sha256Of(stream);
    expect(await sha256Of(stream)).toEqual(first);
    expect(await sha256Of(randomStream(1_000_003, "seed", { chunkSize: [1, 4095, 65_537] }))).toEqual(first);
    expect((await sha256Of(randomStream(1_000_003, "other"))).sha256).not.toBe(first.sha256);
  });

  it("gives fresh chunks that the consumer may keep and modify", async () => {
    const chunks = await chunksOf(randomStream(1024, 3, { chunkSize: 256 }));
    for (const chunk of chunks) chunk.fill(0);
    const again = await chunksOf(randomStream(1024, 3, { chunkSize: 256 }));
    expect(again.some((chunk) => chunk.some((byte) => byte !== 0))).toBe(true);
    expect(new Set(again.map((chunk) => chunk.buffer)).size).toBe(again.length);
  });

  it("looks random: every byte value appears, none dominates", async () => {
    const counts = new Array<number>(256).fill(0);
    for await (const chunk of randomStream(256 * 1024, 11))
      for (const byte of chunk) counts[byte] = (counts[byte] ?? 0) + 1;
    expect(Math.min(...counts)).toBeGreaterThan(800); // expected 1024 each
    expect(Math.max(...counts)).toBeLessThan(1300);
  });

  it("rejects nonsense sizes", () => {
    expect(() => randomStream(-1)).toThrow(RangeError);
    expect(() => randomStream(1.5)).toThrow(RangeError);
    expect(() => randomStream(10, 1, { chunkSize: 0 })).toThrow(RangeError);
  });
});

describe("sha256Of and hashing", () => {
  it("matches node:crypto on the concatenated bytes, for sync and async iterables", async () => {
    expect(await sha256Of([Buffer.from("a"), Buffer.from("bc")])).toEqual({
      sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      bytes: 3,
    });
    const chunks = await chunksOf(randomStream(100_000, 5, { chunkSize: 999 }));
    const expected = createHash("sha256").update(Buffer.concat(chunks)).digest("hex");
    expect(await sha256Of(randomStream(100_000, 5))).toEqual({ sha256: expected, bytes: 100_000 });
    expect(await sha256Of([])).toEqual({
      sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      bytes: 0,
    });
  });

  it("hashing passes a stream through and reports what went by, once it ended", async () => {
    const tee = hashing(randomStream(5000, 9, { chunkSize: 1000 }));
    expect(() => tee.digest()).toThrow(/not been read/);
    const through = await sha256Of(tee.body);
    expect(tee.digest()).toEqual(through);
    expect(through).toEqual(await sha256Of(randomStream(5000, 9)));
  });
});
