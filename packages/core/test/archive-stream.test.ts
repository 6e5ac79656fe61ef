import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { readArchive, verifyArchive, writeArchive } from "../src/archive/index.js";
import type { KeyValue } from "../src/backing.js";
import { VsnapError } from "../src/errors.js";
import {
  archiveBytes,
  chunked,
  collect,
  kv,
  kvReadPoint,
  METADATA,
  objectValue,
  TOOL_VERSION,
} from "./archive-helpers.js";

const MiB = 1024 * 1024;

/** Resolves with the error a promise rejects with (fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

function endless(valueSize = 4096, onPull?: () => void): () => AsyncIterable<KeyValue> {
  const value = objectValue(1, valueSize);
  return async function* () {
    for (let i = 0; ; i++) {
      onPull?.();
      yield kv(`/registry/k/${String(i).padStart(9, "0")}`, value);
    }
  };
}

describe("archive streaming", () => {
  it("streams 300 MiB from read point through writer and reader into a slow consumer with bounded memory", async () => {
    const count = 1200;
    const values = Array.from({ length: 8 }, (_, i) => objectValue(i, 256 * 1024));
    let pulled = 0;
    let consumed = 0;
    let maxAhead = 0;
    const readPoint = kvReadPoint(async function* () {
      for (let i = 0; i < count; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - consumed);
        yield kv(`/registry/big/${String(i).padStart(6, "0")}`, values[i % values.length]!);
      }
    });
    // Warm up (worker pool, JIT) so the baseline includes them.
    await archiveBytes({ readPoint: kvReadPoint(values.map((v, i) => kv(`/w/${i}`, v))) });
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      const writer = writeArchive({ readPoint, toolVersion: TOOL_VERSION, compressionLevel: 1 });
      const reader = readArchive(writer.stream);
      let bytes = 0;
      for await (const entry of reader) {
        if (entry.kind !== "key") continue;
        bytes += (await entry.bytes()).length;
        consumed++;
        if (consumed % 8 === 0) await sleep(10); // the slow consumer
      }
      expect(bytes).toBe(count * 256 * 1024);
      expect(reader.result).toMatchObject({ verified: true, keys: count });
      expect((await writer.done).keys).toBe(count);
    } finally {
      clearInterval(sampler);
    }
    const growth = (peak - baseline) / MiB;
    console.log(
      `archive streaming: peak RSS growth ${growth.toFixed(1)} MiB, source ahead of consumer by at most ${maxAhead} values`,
    );
    // What is in flight: 2 blocks per worker, the block being built, gzip and tar buffers.
    expect(maxAhead * 256 * 1024).toBeLessThan(24 * MiB);
    expect(growth).toBeLessThan(100);
  });

  it("stops pulling from the read point while the consumer does not read", async () => {
    let pulled = 0;
    const writer = writeArchive({
      readPoint: kvReadPoint(endless(64 * 1024, () => pulled++)),
      toolVersion: TOOL_VERSION,
      blockSize: MiB,
    });
    const iterator = writer.stream[Symbol.asyncIterator]();
    await iterator.next();
    await sleep(300);
    const before = pulled;
    await sleep(300);
    expect(pulled).toBe(before); // nothing more is read while nobody consumes
    expect(pulled * 64 * 1024).toBeLessThan(16 * MiB);
    writer.stream.destroy();
    expect(VsnapError.is(await rejection(writer.done), "ABORTED")).toBe(true);
  });

  it("aborts the writer promptly, consumer reading or not, and closes the source", async () => {
    for (const reading of [true, false]) {
      const controller = new AbortController();
      let closed = false;
      const writer = writeArchive({
        readPoint: kvReadPoint(endless(), { onClose: () => (closed = true) }),
        toolVersion: TOOL_VERSION,
        signal: controller.signal,
      });
      const consumer = reading ? rejection(collect(writer.stream)) : undefined;
      await sleep(200);
      const started = performance.now();
      controller.abort();
      const error = await rejection(writer.done);
      expect(VsnapError.is(error, "ABORTED")).toBe(true);
      if (consumer) expect(VsnapError.is(await consumer, "ABORTED")).toBe(true);
      expect(performance.now() - started).toBeLessThan(1000);
      await expect.poll(() => closed, { timeout: 2000 }).toBe(true);
    }
  });

  it("fails at once when the signal is already aborted", async () => {
    const writer = writeArchive({
      readPoint: kvReadPoint([kv("/a", "1")]),
      toolVersion: TOOL_VERSION,
      signal: AbortSignal.abort(),
    });
    expect(VsnapError.is(await rejection(writer.done), "ABORTED")).toBe(true);
    const { bytes } = await archiveBytes({ readPoint: kvReadPoint([kv("/a", "1")]) });
    const error = await rejection(verifyArchive(chunked(bytes), { signal: AbortSignal.abort() }));
    expect(VsnapError.is(error, "ABORTED")).toBe(true);
  });

  it("passes a read point's failure through the stream and done", async () => {
    const failure = new VsnapError("UNAVAILABLE", "etcd went away");
    const writer = writeArchive({
      readPoint: kvReadPoint(endless(), {
        onPull: (i) => {
          if (i === 3000) throw failure;
        },
      }),
      toolVersion: TOOL_VERSION,
    });
    expect(await rejection(collect(writer.stream))).toBe(failure);
    expect(await rejection(writer.done)).toBe(failure);
    // Nobody reading when it fails: done still rejects and nothing is left unhandled.
    const unread = writeArchive({
      readPoint: kvReadPoint(endless(), {
        onPull: () => {
          throw failure;
        },
      }),
      toolVersion: TOOL_VERSION,
    });
    expect(await rejection(unread.done)).toBe(failure);
  });

  it("aborts the reader promptly even when the source stalls, and closes it when the consumer stops", async () => {
    const { bytes } = await archiveBytes({
      readPoint: kvReadPoint(Array.from({ length: 2000 }, (_, i) => kv(`/k/${i}`, objectValue(i, 2000)))),
    });
    const controller = new AbortController();
    async function* stalling() {
      yield bytes.subarray(0, bytes.length / 2);
      await sleep(5000); // a hung connection
      yield bytes.subarray(bytes.length / 2);
    }
    const reading = (async () => {
      for await (const entry of readArchive(stalling(), { signal: controller.signal })) await entry.bytes();
    })();
    await sleep(300);
    const started = performance.now();
    controller.abort();
    expect(VsnapError.is(await rejection(reading), "ABORTED")).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);

    let closed = false;
    async function* source() {
      try {
        yield* chunked(bytes, 1000);
      } finally {
        closed = true;
      }
    }
    for await (const entry of readArchive(source())) {
      if (entry.kind === "key") break;
    }
    await expect.poll(() => closed, { timeout: 2000 }).toBe(true);
  });

  it("reports progress while writing and reading", async () => {
    const keys = Array.from({ length: 3000 }, (_, i) => kv(`/registry/k/${i}`, objectValue(i, 1000)));
    const written: { keys: number; compressedBytes: number }[] = [];
    const { bytes } = await archiveBytes({
      readPoint: { ...kvReadPoint(keys), totals: { keys: 3000 } },
      metadata: METADATA,
      blockSize: 64 * 1024,
      onProgress: (p) => {
        expect(p.totalKeys).toBe(3000);
        written.push(p);
      },
    });
    expect(written.length).toBeGreaterThan(10);
    expect(written.at(-1)).toMatchObject({ keys: 3000, bytes: 3000 * 1000, compressedBytes: bytes.length });
    expect(written.every((p, i) => i === 0 || p.keys >= written[i - 1]!.keys)).toBe(true);

    const read: { compressedBytes: number; keys: number; bytes: number }[] = [];
    await verifyArchive(chunked(bytes, 8192), {
      onProgress: (p) => read.push(p),
      totalCompressedBytes: bytes.length,
    });
    expect(read.at(-1)!.compressedBytes).toBe(bytes.length);
    // the final report comes after the last entry, not with the last chunk fed to gunzip
    expect(read.at(-1)).toMatchObject({ keys: 3000, compressedBytes: bytes.length });
    expect(read.at(-1)!.bytes).toBeGreaterThan(3000 * 1000);
  });
});
