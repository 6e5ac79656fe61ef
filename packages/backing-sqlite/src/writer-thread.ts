import { Worker } from "node:worker_threads";
import { VsnapError } from "@vsnap/core";
import { KINE_SCHEMA } from "./kine.js";
import type { BatchLimits } from "./writer.js";

/**
 * The restore's kine writer on a thread of its own: SQLite's inserts take about as long as reading
 * the archive (gunzip, tar, digests), so the two overlap instead of adding up. Rows travel in
 * batches packed into one transferred buffer (u32 name length, name, u32 value length, value);
 * each batch is one transaction, at most two are in flight. Freshly created keys only (created=1,
 * no previous revision, no lease), as a restore writes them; `KineWriter` writes everything else.
 */

// Plain CommonJS run by `new Worker(..., { eval: true })`: works the same from src (tests) and dist.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { DatabaseSync } = require("node:sqlite");
let db;
const reply = (id, extra = {}, transfer = []) => parentPort.postMessage({ id, ...extra }, transfer);
const failure = (error) => ({
  message: String((error && error.message) || error),
  errcode: error && error.errcode,
  errstr: error && error.errstr,
  code: error && error.code,
  key: error && error.key,
});
parentPort.on("message", (m) => {
  try {
    if (m.kind === "open") {
      db = new DatabaseSync(workerData.file);
      // a private temp file, deleted on failure: no journal, no fsync while filling it
      db.exec("PRAGMA journal_mode = OFF");
      db.exec("PRAGMA synchronous = OFF");
      for (const statement of workerData.schema) db.exec(statement);
      db.insert = db.prepare(workerData.insertSql);
      reply(m.id);
    } else if (m.kind === "row") {
      db.insert.run(...m.args);
      reply(m.id);
    } else if (m.kind === "sequence") {
      const updated = db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'kine'").run(m.revision);
      if (Number(updated.changes) === 0)
        db.prepare("INSERT INTO sqlite_sequence(name, seq) VALUES ('kine', ?)").run(m.revision);
      reply(m.id);
    } else if (m.kind === "rows") {
      const bytes = Buffer.from(m.buffer, 0, m.length);
      let current;
      db.exec("BEGIN");
      try {
        for (let at = 0; at < m.length; ) {
          const nameLength = bytes.readUInt32LE(at);
          const name = bytes.toString("utf8", at + 4, at + 4 + nameLength);
          current = name;
          at += 4 + nameLength;
          const valueLength = bytes.readUInt32LE(at);
          const value = bytes.subarray(at + 4, at + 4 + valueLength);
          at += 4 + valueLength;
          db.insert.run(name, 1, 0, 0, 0, 0, value, null);
        }
        db.exec("COMMIT");
      } catch (error) {
        try { db.exec("ROLLBACK"); } catch {}
        throw Object.assign(error, { key: current });
      }
      reply(m.id, { buffer: m.buffer }, [m.buffer]);
    } else if (m.kind === "finish") {
      db.exec("PRAGMA journal_mode = WAL");
      db.close();
      db = undefined;
      reply(m.id);
    }
  } catch (error) {
    reply(m.id, { error: failure(error) }, m.buffer ? [m.buffer] : []);
  }
});
`;

const INSERT_SQL =
  "INSERT INTO kine(name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
const IN_FLIGHT = 2;

interface Reply {
  readonly id: number;
  /** A thrown error's message and SQLite codes, and the key being inserted when it was thrown. */
  readonly error?: { message: string; errcode?: number; errstr?: string; code?: string; key?: string };
  readonly buffer?: ArrayBuffer;
}

export class KineWriterThread {
  readonly #worker: Worker;
  readonly #limits: BatchLimits;
  readonly #pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  readonly #batches = new Set<Promise<void>>();
  readonly #free: ArrayBuffer[] = [];
  #nextId = 0;
  #failure: Error | undefined;
  /** The batch being filled: rows are copied in as they are added, so no caller's buffer is kept. */
  #batch: Buffer | undefined;
  #at = 0;
  #rows = 0;

  private constructor(file: string, limits: BatchLimits) {
    this.#limits = limits;
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { file, schema: KINE_SCHEMA, insertSql: INSERT_SQL },
    });
    this.#worker.on("message", (reply: Reply) => {
      const waiter = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.buffer && this.#free.length < IN_FLIGHT) this.#free.push(reply.buffer);
      if (!waiter) return;
      if (reply.error) waiter.reject(Object.assign(new Error(reply.error.message), reply.error));
      else waiter.resolve(reply);
    });
    const fail = (error: Error) => {
      this.#failure ??= error;
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
    };
    this.#worker.on("error", fail);
    this.#worker.on("exit", (code) => fail(new Error(`the SQLite writer thread exited (code ${code})`)));
  }

  /** Creates the database with kine's schema in `file` (a new temp file). */
  static async open(file: string, limits: BatchLimits): Promise<KineWriterThread> {
    const writer = new KineWriterThread(file, limits);
    try {
      await writer.#call({ kind: "open" });
    } catch (error) {
      await writer.close();
      throw error;
    }
    return writer;
  }

  /** The next AUTOINCREMENT id will be `revision + 1`. */
  async setSequence(revision: number): Promise<void> {
    await this.#call({ kind: "sequence", revision });
  }

  /** One row with every column given, outside the batches (e.g. kine's compact_rev_key). */
  async row(args: readonly (string | number | Uint8Array | null)[]): Promise<void> {
    await this.#flush();
    await Promise.all(this.#batches);
    await this.#call({ kind: "row", args });
  }

  /**
   * Queues a freshly created key, copying it into the current batch at once: the caller may reuse
   * or drop `value` as soon as this returns. Returns a promise only when the caller must wait (two
   * batches in flight); a failed batch rejects it, or the next call, or `finish`.
   */
  add(name: string, value: Uint8Array): Promise<void> | undefined {
    if (this.#failure) throw this.#failure;
    const nameLength = Buffer.byteLength(name, "utf8");
    const size = 8 + nameLength + value.length;
    let sent = false;
    if (this.#batch && this.#at + size > this.#batch.length) {
      this.#send();
      sent = true;
    }
    this.#batch ??= this.#newBatch(size);
    const batch = this.#batch;
    batch.writeUInt32LE(nameLength, this.#at);
    batch.write(name, this.#at + 4, nameLength, "utf8");
    this.#at += 4 + nameLength;
    batch.writeUInt32LE(value.length, this.#at);
    batch.set(value, this.#at + 4);
    this.#at += 4 + value.length;
    this.#rows++;
    if (this.#rows >= this.#limits.rows || this.#at >= this.#limits.bytes) {
      this.#send();
      sent = true;
    }
    return sent ? this.#backpressure() : undefined;
  }

  /** Writes what is queued, waits for every batch, switches to WAL and closes the database. */
  async finish(): Promise<void> {
    await this.#flush();
    await Promise.all(this.#batches);
    if (this.#failure) throw this.#failure;
    await this.#call({ kind: "finish" });
    await this.close();
  }

  /** Stops the thread (closing its database handle); safe to call more than once. */
  async close(): Promise<void> {
    this.#failure ??= new VsnapError("INTERNAL", "the SQLite writer is closed");
    await this.#worker.terminate();
  }

  /** Sends what is queued, then waits while two batches are in flight. */
  async #flush(): Promise<void> {
    this.#send();
    await this.#backpressure();
  }

  /** Hands the current batch to the thread as one transaction (moved, not copied). */
  #send(): void {
    // a batch exists only once a row is in it (add creates it for that row)
    const batch = this.#batch;
    const length = this.#at;
    this.#batch = undefined;
    this.#at = 0;
    this.#rows = 0;
    if (!batch) return;
    const buffer = batch.buffer as ArrayBuffer;
    const sent = this.#call({ kind: "rows", buffer, length }, [buffer]).then(() => undefined);
    this.#batches.add(sent);
    // a failure is kept in #failure and rethrown by the next call; this only keeps it handled
    sent.then(
      () => this.#batches.delete(sent),
      (error: Error) => {
        this.#failure ??= error;
        this.#batches.delete(sent);
      },
    );
  }

  async #backpressure(): Promise<void> {
    while (this.#batches.size >= IN_FLIGHT) await Promise.race(this.#batches).catch(() => undefined);
    if (this.#failure) throw this.#failure;
  }

  /** A batch buffer of its own (never Node's shared pool: it is transferred), reused when large enough. */
  #newBatch(size: number): Buffer {
    const reusable = this.#free.pop();
    const buffer =
      reusable && reusable.byteLength >= size
        ? reusable
        : new ArrayBuffer(Math.max(size, this.#limits.bytes));
    return Buffer.from(buffer);
  }

  #call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }
}
