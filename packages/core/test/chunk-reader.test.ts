import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ChunkReader } from "../src/archive/byte-reader.js";
import { readArchive, writeArchive } from "../src/archive/index.js";
import { VsnapError } from "../src/errors.js";
import { dbReadPoint, kvReadPoint, METADATA, objectValue } from "./archive-helpers.js";

const SIZE = 128 * 1024; // gunzip's, and larger than Node's Buffer pool

/** Slices of fresh SIZE-byte buffers, as gunzip hands out its output: `cuts` are the slice ends. */
function outputBuffer(seed: number, cuts: number[]): { buffer: ArrayBuffer; slices: Buffer[] } {
  const buffer = new ArrayBuffer(SIZE);
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < SIZE; i++) bytes[i] = (seed * 7 + i) % 251;
  const slices: Buffer[] = [];
  let from = 0;
  for (const to of [...cuts, SIZE]) {
    slices.push(Buffer.from(buffer, from, to - from));
    from = to;
  }
  return { buffer, slices };
}

function readerOf(chunks: Buffer[], size = SIZE): ChunkReader {
  async function* source() {
    yield* chunks;
  }
  return new ChunkReader(source(), (e) => VsnapError.wrap(e, "INTERNAL"), size);
}

const detached = (buffer: ArrayBuffer) => buffer.detached;

describe("ChunkReader frees gunzip's output buffers once read", () => {
  it("frees a full buffer at the read after its last slice, never before", async () => {
    const a = outputBuffer(1, [1000, 40_000]);
    const b = outputBuffer(2, []);
    const reader = readerOf([...a.slices, ...b.slices]);
    expect(await reader.fill(SIZE + 10)).toBe(true);
    const first = reader.take(SIZE - 100);
    const tail = reader.take(100); // ends buffer a exactly: still usable until the next read
    expect(detached(a.buffer)).toBe(false);
    expect(tail[99]).toBe((1 * 7 + SIZE - 1) % 251);
    reader.take(10); // the next read: a is freed
    expect(detached(a.buffer)).toBe(true);
    expect(tail.length).toBe(0); // views of a freed buffer read as empty
    expect(first.length).toBe(SIZE - 100); // what spanned slices was copied: it stays
    expect(first[0]).toBe((1 * 7) % 251);
    expect(detached(b.buffer)).toBe(false);
  });

  it("never frees a lent buffer, a partly filled one, Node's pool or a buffer of another size", async () => {
    const lent = outputBuffer(3, [SIZE - 5]);
    const partial = Buffer.from(new ArrayBuffer(SIZE), 0, 5000); // gunzip's last, never filled
    const pooled = Buffer.from("tiny pool slice"); // from Node's shared pool
    const other = Buffer.alloc(SIZE * 2);
    expect(pooled.buffer.byteLength).toBe(Buffer.poolSize);
    const reader = readerOf([...lent.slices, partial, pooled, other]);
    await reader.fill(SIZE * 3 + 5000 + pooled.length);
    reader.take(SIZE - 5);
    const kept = reader.lend(reader.takeUpTo(5)); // the last slice, given away
    reader.take(5000);
    reader.take(pooled.length);
    reader.take(other.length - 1);
    reader.take(1);
    expect(detached(lent.buffer)).toBe(false);
    expect(kept[4]).toBe((3 * 7 + SIZE - 1) % 251);
    expect(detached(partial.buffer as ArrayBuffer)).toBe(false);
    expect(detached(pooled.buffer as ArrayBuffer)).toBe(false);
    expect(Buffer.from("the pool still works").toString()).toBe("the pool still works");
    expect(detached(other.buffer as ArrayBuffer)).toBe(false);
  });

  it("frees nothing without a buffer size, or one Node's pool could have", async () => {
    for (const size of [0, Buffer.poolSize]) {
      const a = outputBuffer(4, []);
      const reader = readerOf(a.slices, size);
      await reader.fill(SIZE);
      reader.take(SIZE - 1);
      reader.take(1);
      await reader.fill(1);
      expect(detached(a.buffer)).toBe(false);
    }
  });
});

/** The archive `writeArchive` makes of `readPoint`, as the chunks it yielded. */
async function archiveOf(readPoint: Parameters<typeof writeArchive>[0]["readPoint"]): Promise<Buffer[]> {
  const { stream, done } = writeArchive({ readPoint, metadata: METADATA, toolVersion: "test" });
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(Buffer.from(chunk));
  await done;
  return out;
}

describe("readArchive with freed buffers", () => {
  const keys = Array.from({ length: 3000 }, (_, i) => ({
    key: `/registry/configmaps/ns/${String(i).padStart(5, "0")}`,
    value: objectValue(i, 200 + ((i * 7919) % 6000)),
  }));

  const archive = () => archiveOf(kvReadPoint(keys));

  it("values read with bytes() stay intact after the reader moves on, and gunzip's buffers are freed", async () => {
    const body = await archive();
    // count the buffers freed (detached) while reading: the mechanism must be at work with real gunzip
    const transfer = ArrayBuffer.prototype.transfer;
    let freed = 0;
    ArrayBuffer.prototype.transfer = function (this: ArrayBuffer, length?: number) {
      if (length === 0 && this.byteLength === 128 * 1024) freed++;
      return transfer.call(this, length);
    };
    const kept: Buffer[] = [];
    const reader = readArchive(body);
    try {
      for await (const entry of reader) if (entry.kind === "key") kept.push(await entry.bytes());
    } finally {
      ArrayBuffer.prototype.transfer = transfer;
    }
    expect(reader.result?.verified).toBe(true);
    // ~10 MiB of tar in 128 KiB buffers
    expect(freed).toBeGreaterThan(20);
    expect(kept.length).toBe(keys.length);
    for (let i = 0; i < keys.length; i++) expect(kept[i]!.equals(keys[i]!.value)).toBe(true);
  });

  it("chunks given by stream() stay intact after the reader moves on", async () => {
    const hashes: string[] = [];
    const kept: Uint8Array[][] = [];
    const reader = readArchive(await archive());
    for await (const entry of reader) {
      if (entry.kind !== "key") continue;
      const chunks: Uint8Array[] = [];
      for await (const chunk of entry.stream()) chunks.push(chunk);
      kept.push(chunks);
      hashes.push(createHash("sha256").update(Buffer.concat(chunks)).digest("hex"));
    }
    expect(reader.result?.verified).toBe(true);
    for (let i = 0; i < keys.length; i++) {
      const again = createHash("sha256").update(Buffer.concat(kept[i]!)).digest("hex");
      expect(again).toBe(hashes[i]);
      expect(Buffer.concat(kept[i]!).equals(keys[i]!.value)).toBe(true);
    }
  });

  describe("a db entry", () => {
    const db = objectValue(7, 12 * 1024 * 1024);

    /** Reads the db entry's chunks with `each`, counting gunzip's buffers freed meanwhile. */
    async function readDb(transient: boolean, each: (chunk: Uint8Array) => void): Promise<number> {
      const transfer = ArrayBuffer.prototype.transfer;
      let freed = 0;
      ArrayBuffer.prototype.transfer = function (this: ArrayBuffer, length?: number) {
        if (length === 0 && this.byteLength === 128 * 1024) freed++;
        return transfer.call(this, length);
      };
      const reader = readArchive(await archiveOf(dbReadPoint(db)));
      try {
        for await (const entry of reader) {
          if (entry.kind === "db") for await (const chunk of entry.stream({ transient })) each(chunk);
        }
      } finally {
        ArrayBuffer.prototype.transfer = transfer;
      }
      expect(reader.result?.verified).toBe(true);
      return freed;
    }

    it("read with stream({ transient: true }), frees gunzip's buffers as it goes; each chunk is whole when given", async () => {
      const hash = createHash("sha256");
      const freed = await readDb(true, (chunk) => hash.update(chunk));
      expect(hash.digest("hex")).toBe(createHash("sha256").update(db).digest("hex"));
      // 12 MiB in 128 KiB buffers
      expect(freed).toBeGreaterThan(40);
    });

    it("read with stream(), lends every chunk: none is freed, all stay intact", async () => {
      const kept: Uint8Array[] = [];
      const freed = await readDb(false, (chunk) => kept.push(chunk));
      expect(freed).toBe(0);
      expect(Buffer.concat(kept).equals(db)).toBe(true);
    });
  });
});
