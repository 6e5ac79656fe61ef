import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { releaseView } from "../backing.js";
import { VsnapError } from "../errors.js";
import { gzipHeader, gzipTrailer } from "./gzip.js";

/**
 * Deflate workers for parallel gzip: each block of tar becomes one independent gzip member.
 * Blocks move to the workers and back (transferred, not copied) and are reused.
 */

// Plain CommonJS run by `new Worker(..., { eval: true })`: works the same from src (tests) and dist.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const zlib = require("node:zlib");
parentPort.on("message", ({ id, buffer, length, level }) => {
  try {
    const data = new Uint8Array(buffer, 0, length);
    // One output buffer sized past deflate's worst case, moved (not copied) to the main thread:
    // this isolate allocates too little for its GC to run often, so anything left here as
    // garbage piles up (tens of MiB per worker) before it is collected.
    const bound = length + (length >>> 3) + (length >>> 6) + 64;
    const raw = zlib.deflateRawSync(data, { level, chunkSize: bound });
    let out = raw.buffer;
    let offset = raw.byteOffset;
    // (Small outputs live in Buffer's shared pool, which must not move: copy those.)
    if (out.byteLength !== bound || offset !== 0) {
      out = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length);
      offset = 0;
    }
    const crc = zlib.crc32(data);
    parentPort.postMessage({ id, raw: out, offset, rawLength: raw.length, crc, input: buffer }, [out, buffer]);
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error), input: buffer }, [buffer]);
  }
});
`;

interface Task {
  readonly id: number;
  readonly block: Uint8Array;
  /** Kept apart: the block's view reads 0 once its memory moved to the worker. */
  readonly length: number;
  readonly level: number;
  readonly resolve: (result: Compressed) => void;
  readonly reject: (error: Error) => void;
}

export interface Compressed {
  readonly member: Buffer;
  /** The block's memory, handed back. */
  readonly input: ArrayBuffer | undefined;
}

interface WorkerReply {
  readonly id: number;
  readonly raw?: ArrayBuffer;
  readonly offset?: number;
  readonly rawLength?: number;
  readonly crc?: number;
  readonly input?: ArrayBuffer;
  readonly error?: string;
}

/** Header, deflate data (copied out of the worker's oversized buffer), trailer. */
function gzipMember(reply: WorkerReply, length: number, level: number): Buffer {
  const raw = new Uint8Array(reply.raw!, reply.offset, reply.rawLength);
  const header = gzipHeader(level);
  const member = Buffer.allocUnsafe(header.length + raw.length + 8);
  member.set(header, 0);
  member.set(raw, header.length);
  gzipTrailer(reply.crc!, length).copy(member, header.length + raw.length);
  // Free the worker's oversized output now: left to the collector, such buffers pile up by the
  // hundred MiB before V8 runs a full collection for them (docs/benchmarks.md).
  releaseView(new Uint8Array(reply.raw!));
  return member;
}

interface PoolWorker {
  readonly worker: Worker;
  task: Task | undefined;
}

/** A fixed set of deflate workers; unreferenced so an idle pool never keeps a process alive. */
export class DeflatePool {
  readonly size: number;
  readonly #workers: PoolWorker[] = [];
  readonly #queue: Task[] = [];
  #nextId = 0;
  #closed = false;

  constructor(size: number) {
    this.size = size;
    for (let i = 0; i < size; i++) this.#workers.push(this.#spawn());
  }

  compress(block: Uint8Array, level: number): Promise<Compressed> {
    if (this.#closed) return Promise.reject(new VsnapError("INTERNAL", "the compression pool is closed"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, block, length: block.length, level, resolve, reject });
      this.#dispatch();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
  }

  #spawn(): PoolWorker {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: PoolWorker = { worker, task: undefined };
    worker.on("message", (message: WorkerReply) => {
      const task = slot.task;
      slot.task = undefined;
      if (task) {
        if (message.raw) {
          task.resolve({ member: gzipMember(message, task.length, task.level), input: message.input });
        } else {
          task.reject(new VsnapError("INTERNAL", `gzip compression failed: ${message.error}`));
        }
      }
      this.#dispatch();
      if (!slot.task) worker.unref();
    });
    const fail = (error: Error) => {
      const task = slot.task;
      slot.task = undefined;
      task?.reject(VsnapError.wrap(error, "INTERNAL", "gzip compression worker failed"));
      const index = this.#workers.indexOf(slot);
      if (index >= 0 && !this.#closed) {
        this.#workers[index] = this.#spawn();
        this.#dispatch();
      }
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (!this.#closed && this.#workers.includes(slot)) fail(new Error(`worker exited with code ${code}`));
    });
    // Referenced only while busy: an idle pool never keeps the process alive, a busy one does.
    // (After the listeners: adding a "message" listener references the worker's port again, and
    // a worker that never got a task then held the process for the pool's idle time.)
    worker.unref();
    return slot;
  }

  #dispatch(): void {
    for (const slot of this.#workers) {
      if (slot.task || this.#queue.length === 0) continue;
      const task = this.#queue.shift()!;
      slot.task = task;
      // Hand the block's memory to the worker instead of copying it (it is not used here again).
      const { block } = task;
      const own = block.byteOffset === 0 && block.buffer instanceof ArrayBuffer;
      const buffer = own ? (block.buffer as ArrayBuffer) : block.slice().buffer;
      slot.worker.ref();
      slot.worker.postMessage({ id: task.id, buffer, length: task.length, level: task.level }, [buffer]);
    }
  }
}

// One pool per process, shared by concurrent archives, closed a little after the last one ends.
let shared: { pool: DeflatePool; users: number; idle?: NodeJS.Timeout } | undefined;
const IDLE_CLOSE_MS = 5_000;

export function acquirePool(): DeflatePool {
  if (!shared) shared = { pool: new DeflatePool(Math.max(1, availableParallelism())), users: 0 };
  clearTimeout(shared.idle);
  shared.users++;
  return shared.pool;
}

export function releasePool(pool: DeflatePool): void {
  if (!shared || shared.pool !== pool) return;
  if (--shared.users > 0) return;
  const current = shared;
  current.idle = setTimeout(() => {
    if (shared === current && current.users === 0) {
      shared = undefined;
      void current.pool.close();
    }
  }, IDLE_CLOSE_MS);
  current.idle.unref();
}
