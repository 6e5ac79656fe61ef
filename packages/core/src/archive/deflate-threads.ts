import { availableParallelism } from "node:os";
import { constants, gzip } from "node:zlib";
import { releaseView } from "../backing.js";
import { VsnapError } from "../errors.js";
import { gzipHeader } from "./gzip.js";

/**
 * Parallel gzip on libuv's thread pool: each block of tar becomes one independent gzip member,
 * deflated (CRC included) by zlib's asynchronous API off the main thread. Worker threads did the
 * same as fast, but each cost ~14 MiB of RSS for its V8 isolate (docs/benchmarks.md).
 */

export interface Compressed {
  readonly member: Buffer;
  /** The block's memory, handed back for reuse (the block was all of it). */
  readonly input: ArrayBuffer | undefined;
}

interface Task {
  readonly block: Uint8Array;
  readonly level: number;
  readonly resolve: (result: Compressed) => void;
  readonly reject: (error: Error) => void;
}

/** libuv's pool: 4 threads unless UV_THREADPOOL_SIZE says otherwise (read once, at its first use). */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const size = Number.parseInt(env.UV_THREADPOOL_SIZE ?? "", 10);
  return Number.isSafeInteger(size) && size > 0 ? Math.min(size, 1024) : 4;
}

/**
 * Members deflated at once: one per core plus one, because each member takes two turns on the
 * pool with a hop through the main thread between them (zlib's write, then its end) and a core
 * would idle during the hop; and one pool thread always left for file I/O.
 */
export function deflateConcurrency(cores = availableParallelism(), poolSize = threadPoolSize()): number {
  return Math.max(1, Math.min(cores + 1, poolSize - 1));
}

/** zlib's gzip header differs from vsnap's (Go's, gzip.ts) only in XFL and OS. */
const HEADER_LENGTH = 10;
/** deflate's worst case for `length` bytes, plus the gzip header and trailer. */
const memberBound = (length: number) => length + (length >>> 3) + (length >>> 6) + 64 + HEADER_LENGTH + 8;

/** The member as vsnap frames it, copied out of zlib's oversized output buffer, which is freed. */
function frame(output: Buffer, level: number): Buffer {
  const member = Buffer.allocUnsafeSlow(output.length);
  output.copy(member);
  gzipHeader(level).copy(member, 0, 0, HEADER_LENGTH);
  // left to the collector, such buffers pile up by the hundred MiB before a full collection
  if (output.byteOffset === 0) releaseView(new Uint8Array(output.buffer, 0, output.buffer.byteLength));
  return member;
}

export class GzipMembers {
  /** Most members being deflated at once; more wait their turn here. */
  readonly concurrency: number;
  readonly #queue: Task[] = [];
  #running = 0;

  constructor(concurrency = deflateConcurrency()) {
    this.concurrency = concurrency;
  }

  /** One complete gzip member holding `block`. */
  compress(block: Uint8Array, level: number): Promise<Compressed> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ block, level, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#running < this.concurrency && this.#queue.length > 0) {
      const task = this.#queue.shift()!;
      this.#running++;
      const done = (error: Error | null, output?: Buffer) => {
        this.#running--;
        this.#dispatch();
        if (error || !output) {
          task.reject(VsnapError.wrap(error, "INTERNAL", "gzip compression failed"));
          return;
        }
        const { block } = task;
        const whole = block.byteOffset === 0 && block.byteLength === block.buffer.byteLength;
        task.resolve({
          member: frame(output, task.level),
          input: whole && block.buffer instanceof ArrayBuffer ? block.buffer : undefined,
        });
      };
      try {
        // one output buffer past the worst case and Z_FINISH on the write: one pass over the block
        gzip(
          task.block,
          { level: task.level, chunkSize: memberBound(task.block.length), flush: constants.Z_FINISH },
          done,
        );
      } catch (error) {
        done(error as Error); // options zlib refuses at once (a level out of range)
      }
    }
  }
}

let shared: GzipMembers | undefined;

/** The process's deflater, shared by concurrent archives so together they stay within the limit. */
export function sharedGzipMembers(): GzipMembers {
  shared ??= new GzipMembers();
  return shared;
}
