/**
 * Compressor designs compared on the same tar bytes, outside the archive writer, so the cost of
 * compressing alone is visible: @vsnap/core's own deflater (gzip members deflated on libuv's thread
 * pool: no extra V8 isolates), the same members deflated in worker threads (core's design until
 * December 2026), and one single-threaded deflate stream. Every design writes valid multi-member (or single) gzip.
 */
import { open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { crc32, createDeflateRaw } from "node:zlib";
import { DEFLATE_MEM_LEVEL, GzipMembers } from "@vsnap/core";

export type CompressorDesign = "worker-threads" | "threadpool" | "single-stream";

export const COMPRESSOR_DESIGNS: readonly CompressorDesign[] = [
  "threadpool",
  "worker-threads",
  "single-stream",
];

const HEADER = Buffer.of(0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff);

function trailer(crc: number, length: number): Buffer {
  const t = Buffer.allocUnsafe(8);
  t.writeUInt32LE(crc >>> 0, 0);
  t.writeUInt32LE(length % 2 ** 32, 4);
  return t;
}

/** Block memory handed back once compressed, for the next block: every design reuses its input buffers. */
class BlockPool {
  readonly #free: ArrayBuffer[] = [];
  constructor(readonly size: number) {}
  take(): Uint8Array {
    const memory = this.#free.pop();
    return memory ? new Uint8Array(memory) : new Uint8Array(this.size);
  }
  give(memory: ArrayBufferLike): void {
    if (memory instanceof ArrayBuffer && memory.byteLength === this.size && this.#free.length < 8)
      this.#free.push(memory);
  }
}

/** Reads `file` into pooled blocks of `pool.size` bytes (the last one shorter). */
async function* blocksOf(file: string, pool: BlockPool): AsyncGenerator<Uint8Array> {
  const handle = await open(file, "r");
  try {
    for (;;) {
      const block = pool.take();
      let at = 0;
      while (at < block.length) {
        const { bytesRead } = await handle.read(block, at, block.length - at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      if (at === 0) return;
      yield at === block.length ? block : block.subarray(0, at);
      if (at < block.length) return;
    }
  } finally {
    await handle.close();
  }
}

/** Keeps results in order with at most `limit` in flight. */
async function* ordered<T>(
  inputs: AsyncIterable<T>,
  limit: number,
  work: (input: T) => Promise<Buffer>,
): AsyncGenerator<Buffer> {
  const inflight: Promise<Buffer>[] = [];
  for await (const input of inputs) {
    const p = work(input);
    p.catch(() => {});
    inflight.push(p);
    if (inflight.length >= limit) yield await inflight.shift()!;
  }
  while (inflight.length > 0) yield await inflight.shift()!;
}

// @vsnap/core's worker body until December 2026 (deflate-pool.ts): deflate into one buffer sized
// past deflate's worst case and move it back, with the input, instead of leaving garbage behind.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const zlib = require("node:zlib");
parentPort.on("message", ({ buffer, length, level, memLevel }) => {
  const data = new Uint8Array(buffer, 0, length);
  const bound = length + (length >>> 3) + (length >>> 6) + 64;
  const raw = zlib.deflateRawSync(data, { level, memLevel, chunkSize: bound });
  let out = raw.buffer;
  let offset = raw.byteOffset;
  if (out.byteLength !== bound || offset !== 0) {
    out = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length);
    offset = 0;
  }
  const crc = zlib.crc32(data);
  parentPort.postMessage({ raw: out, offset, rawLength: raw.length, crc, input: buffer }, [out, buffer]);
});
`;

interface WorkerReply {
  readonly input: ArrayBuffer;
  readonly raw: ArrayBuffer;
  readonly offset: number;
  readonly rawLength: number;
  readonly crc: number;
}

async function* workerThreads(
  blocks: AsyncIterable<Uint8Array>,
  level: number,
  threads: number,
  pool: BlockPool,
): AsyncGenerator<Buffer> {
  const workers = Array.from({ length: threads }, () => new Worker(WORKER_SOURCE, { eval: true }));
  const idle = [...workers];
  const waiting: (() => void)[] = [];
  const take = async (): Promise<Worker> => {
    while (idle.length === 0) await new Promise<void>((r) => waiting.push(r));
    return idle.pop()!;
  };
  try {
    yield* ordered(blocks, threads * 2, async (block) => {
      const worker = await take();
      const own =
        block.byteOffset === 0 && block.byteLength === block.buffer.byteLength ? block : block.slice();
      const length = own.length;
      const reply = await new Promise<WorkerReply>((resolve) => {
        worker.once("message", resolve);
        worker.postMessage({ buffer: own.buffer, length, level, memLevel: DEFLATE_MEM_LEVEL }, [
          own.buffer as ArrayBuffer,
        ]);
      });
      idle.push(worker);
      waiting.shift()?.();
      pool.give(reply.input);
      // header, deflate data copied out of the oversized buffer, trailer (as core's gzipMember)
      return Buffer.concat([
        HEADER,
        new Uint8Array(reply.raw, reply.offset, reply.rawLength),
        trailer(reply.crc, length),
      ]);
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

async function* threadpool(
  blocks: AsyncIterable<Uint8Array>,
  level: number,
  pool: BlockPool,
): AsyncGenerator<Buffer> {
  // @vsnap/core's own deflater, with the window its archive writer uses
  const deflater = new GzipMembers();
  yield* ordered(blocks, deflater.concurrency * 2, async (block) => {
    const { member, input } = await deflater.compress(block, level);
    if (input) pool.give(input);
    return member;
  });
}

async function* singleStream(blocks: AsyncIterable<Uint8Array>, level: number): AsyncGenerator<Buffer> {
  const deflate = createDeflateRaw({ level, memLevel: DEFLATE_MEM_LEVEL, chunkSize: 256 * 1024 });
  let crc = 0;
  let length = 0;
  const feeder = (async () => {
    for await (const block of blocks) {
      crc = crc32(block, crc);
      length += block.length;
      if (!deflate.write(block)) await new Promise((r) => deflate.once("drain", r));
    }
    deflate.end();
  })();
  yield HEADER;
  for await (const chunk of deflate) yield chunk as Buffer;
  await feeder;
  yield trailer(crc, length);
}

export interface CompressorRun {
  readonly inputBytes: number;
  readonly outputBytes: number;
}

/** The gzip bytes of `file` compressed with one design, in order. */
export function compressMembers(
  file: string,
  design: CompressorDesign,
  level: number,
  blockSize: number,
  onBlock?: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  const threads = availableParallelism();
  const pool = new BlockPool(blockSize);
  const blocks = (async function* () {
    for await (const block of blocksOf(file, pool)) {
      onBlock?.(block.length);
      yield block;
    }
  })();
  return design === "worker-threads"
    ? workerThreads(blocks, level, threads, pool)
    : design === "threadpool"
      ? threadpool(blocks, level, pool)
      : singleStream(blocks, level);
}

/** Compresses `file` with one design and discards the output (only its size is kept). */
export async function compressFile(
  file: string,
  design: CompressorDesign,
  level: number,
  blockSize: number,
): Promise<CompressorRun> {
  let inputBytes = 0;
  let outputBytes = 0;
  for await (const member of compressMembers(file, design, level, blockSize, (n) => {
    inputBytes += n;
  })) {
    outputBytes += member.length;
  }
  return { inputBytes, outputBytes };
}
