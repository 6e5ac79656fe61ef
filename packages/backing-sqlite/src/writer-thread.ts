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
 *
 * The thread takes about 50 ms to boot. Nothing waits for it: messages queue until it runs, and
 * until it has opened the database up to eight messages (the first batches) may wait, so that the
 * archive is read meanwhile instead of after.
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
      // not defensive (Node's default), which refuses journal_mode = OFF and so kept a rollback
      // journal: written, synced and deleted at every commit
      db = new DatabaseSync(workerData.file, { defensive: false });
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
/** Messages that may wait while the thread boots: the first batches then fill in the meantime. */
const STARTING_IN_FLIGHT = 8;

const NOOP = () => undefined;

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
  /** Sent and not yet answered: batches, and the messages before them. */
  readonly #inFlight = new Set<Promise<void>>();
  #opened = false;
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

  /**
   * Starts the thread, which creates kine's schema in `file` (a new, empty temp file). Returns at
   * once; a failure to open surfaces at the next `add` that waits, or at `finish`.
   */
  static start(file: string, limits: BatchLimits): KineWriterThread {
    const writer = new KineWriterThread(file, limits);
    writer.#queue({ kind: "open" }).then(() => {
      writer.#opened = true;
    }, NOOP);
    return writer;
  }

  /** The next AUTOINCREMENT id will be `revision + 1`. Queued, like `row`. */
  setSequence(revision: number): void {
    void this.#queue({ kind: "sequence", revision });
  }

  /** One row with every column given, outside the batches (e.g. kine's compact_rev_key). */
  row(args: readonly (string | number | Uint8Array | null)[]): void {
    this.#send();
    void this.#queue({ kind: "row", args });
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
    this.#send();
    // the first failure is the one to report: later messages fail because of it
    await Promise.allSettled(this.#inFlight);
    if (this.#failure) throw this.#failure;
    await this.#call({ kind: "finish" });
    await this.close();
  }

  /** Stops the thread (closing its database handle); safe to call more than once. */
  async close(): Promise<void> {
    this.#failure ??= new VsnapError("INTERNAL", "the SQLite writer is closed");
    await this.#worker.terminate();
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
    void this.#queue({ kind: "rows", buffer, length }, [buffer]);
  }

  /** Sends a message counted as in flight until answered; a failure is kept in #failure. */
  #queue(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<void> {
    const sent = this.#call(message, transfer).then(() => undefined);
    this.#inFlight.add(sent);
    // rethrown by the next add that waits, or by finish; this only keeps it handled
    sent.then(
      () => this.#inFlight.delete(sent),
      (error: Error) => {
        this.#failure ??= error;
        this.#inFlight.delete(sent);
      },
    );
    return sent;
  }

  async #backpressure(): Promise<void> {
    while (this.#inFlight.size >= (this.#opened ? IN_FLIGHT : STARTING_IN_FLIGHT)) {
      await Promise.race(this.#inFlight).catch(NOOP);
    }
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
