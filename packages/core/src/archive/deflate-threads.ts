import { availableParallelism } from "node:os";
import { constants, crc32, createDeflateRaw, type DeflateRaw } from "node:zlib";
import { releaseView } from "../backing.js";
import { VsnapError } from "../errors.js";
import { gzipHeader, gzipTrailer } from "./gzip.js";

/**
 * Parallel gzip on libuv's thread pool: each block of tar becomes one independent gzip member,
 * deflated by zlib's asynchronous API off the main thread. Worker threads did the same, but each
 * cost ~14 MiB of RSS for its V8 isolate, and a one-shot `zlib.gzip` per block (a new zlib stream,
 * two passes on the pool) left tens of MiB of garbage behind on a busy main thread
 * (docs/benchmarks.md).
 */

export interface Compressed {
  readonly member: Buffer;
  /** The block's memory, handed back for reuse (the block was all of it). */
  readonly input: ArrayBuffer | undefined;
}

/** libuv's pool: 4 threads unless UV_THREADPOOL_SIZE says otherwise (read once, at its first use). */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const size = Number.parseInt(env.UV_THREADPOOL_SIZE ?? "", 10);
  return Number.isSafeInteger(size) && size > 0 ? Math.min(size, 1024) : 4;
}

/**
 * Lanes deflating at once: one per core plus one, because between two blocks a lane waits for the
 * main thread to take its output and hand it the next block, and a core would idle meanwhile; and
 * one pool thread is always left for file I/O.
 */
export function deflateConcurrency(cores = availableParallelism(), poolSize = threadPoolSize()): number {
  return Math.max(1, Math.min(cores + 1, poolSize - 1));
}

/**
 * A lane's output buffer: deflate's worst case for a default (1 MiB) block, so such a block takes
 * one pass. Larger blocks take more passes, whatever block a lane saw first.
 */
const LANE_OUTPUT = 2 ** 20 + ((2 ** 20) >>> 3) + ((2 ** 20) >>> 6) + 64;
/**
 * zlib's largest hash table (512 KiB a lane, against 256 KiB at its default of 8): fewer hash
 * collisions to walk, 8 % less CPU for a 265 MiB tar at level 3, output within 0.1 % (docs/benchmarks.md).
 */
export const DEFLATE_MEM_LEVEL = 9;
/** A final, empty fixed-Huffman block: ends a deflate stream cut at a full flush (as pigz does). */
const FINAL_BLOCK = Buffer.of(0x03, 0x00);

/**
 * One long-lived raw deflate stream: each block is written with Z_FULL_FLUSH, which empties the
 * output and forgets the history, so the block's output is a deflate stream of its own once
 * FINAL_BLOCK follows. One pass on the pool per block, and no per-block zlib setup.
 */
class Lane {
  queued = 0;
  readonly #stream: DeflateRaw;
  #output: Buffer[] = [];
  /** The zlib output buffer the last chunk was cut from, and the ones zlib has moved on from. */
  #current: ArrayBufferLike | undefined;
  #retired: ArrayBufferLike[] = [];
  #failure: Error | undefined;

  constructor(level: number) {
    this.#stream = createDeflateRaw({
      level,
      memLevel: DEFLATE_MEM_LEVEL,
      chunkSize: LANE_OUTPUT,
      flush: constants.Z_FULL_FLUSH,
    });
    // the output of a block is complete when its write's callback runs: nothing else reads it
    this.#stream.on("data", (chunk: Buffer) => {
      // zlib cuts its output from one buffer until it is full, then allocates the next
      if (this.#current !== undefined && chunk.buffer !== this.#current) this.#retired.push(this.#current);
      this.#current = chunk.buffer;
      this.#output.push(chunk);
    });
    this.#stream.on("error", (error) => {
      this.#failure = error;
    });
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * The block's output, and the output buffers zlib has finished with: once the output is copied,
   * nothing reads them, and freeing them then keeps them from piling up until V8's next full
   * collection (the chunks cut from them live long enough to be promoted).
   */
  deflate(block: Uint8Array): Promise<{ output: Buffer[]; retired: ArrayBufferLike[] }> {
    this.queued++;
    return new Promise((resolve, reject) => {
      this.#stream.write(block, (error) => {
        this.queued--;
        const output = this.#output;
        const retired = this.#retired;
        this.#output = [];
        this.#retired = [];
        const failure = error ?? this.#failure;
        if (failure) reject(failure);
        else resolve({ output, retired });
      });
    });
  }
}

/** header, the block's deflate output (copied out of the lane's shared buffer), final block, trailer. */
function frame(output: readonly Buffer[], block: Uint8Array, level: number): Buffer {
  const parts = [gzipHeader(level), ...output, FINAL_BLOCK, gzipTrailer(crc32(block), block.length)];
  let length = 0;
  for (const part of parts) length += part.length;
  const member = Buffer.allocUnsafeSlow(length);
  let at = 0;
  for (const part of parts) at += part.copy(member, at);
  return member;
}

export class GzipMembers {
  /** Lanes per compression level, each deflating one block at a time. */
  readonly concurrency: number;
  readonly #lanes = new Map<number, Lane[]>();

  constructor(concurrency = deflateConcurrency()) {
    this.concurrency = concurrency;
  }

  /** One complete gzip member holding `block`. */
  async compress(block: Uint8Array, level: number): Promise<Compressed> {
    let deflated: { output: Buffer[]; retired: ArrayBufferLike[] };
    try {
      deflated = await this.#lane(level).deflate(block);
    } catch (error) {
      throw VsnapError.wrap(error, "INTERNAL", "gzip compression failed");
    }
    const member = frame(deflated.output, block, level);
    for (const buffer of deflated.retired) releaseView(new Uint8Array(buffer));
    const whole = block.byteOffset === 0 && block.byteLength === block.buffer.byteLength;
    return { member, input: whole && block.buffer instanceof ArrayBuffer ? block.buffer : undefined };
  }

  /** The least busy lane for `level`, made on first use (a failed lane is replaced). */
  #lane(level: number): Lane {
    let lanes = this.#lanes.get(level);
    if (!lanes) {
      lanes = [];
      this.#lanes.set(level, lanes);
    }
    for (let i = 0; i < lanes.length; i++) if (lanes[i]!.failed) lanes[i] = new Lane(level);
    if (lanes.length < this.concurrency) {
      const lane = new Lane(level);
      lanes.push(lane);
      return lane;
    }
    return lanes.reduce((a, b) => (b.queued < a.queued ? b : a));
  }
}

let shared: GzipMembers | undefined;

/** The process's deflater, shared by concurrent archives so together they stay within the limit. */
export function sharedGzipMembers(): GzipMembers {
  shared ??= new GzipMembers();
  return shared;
}
