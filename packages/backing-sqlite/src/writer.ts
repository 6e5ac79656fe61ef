import { DatabaseSync, type StatementSync } from "node:sqlite";
import { KINE_SCHEMA } from "./kine.js";

/** How much goes into one write transaction: bounds memory (dirty pages) and abort latency. */
export interface BatchLimits {
  readonly rows: number;
  readonly bytes: number;
}

export const DEFAULT_BATCH: BatchLimits = { rows: 500, bytes: 2 * 1024 * 1024 };

/**
 * A fresh kine database being filled. Created with kine's own statements; bulk-loaded without a
 * journal or fsyncs (the file is a private temp file: on failure it is deleted, never repaired),
 * then switched to WAL, kine's journal mode, which SQLite records in the file header.
 */
export class KineWriter {
  readonly db: DatabaseSync;
  private readonly insert: StatementSync;
  private inTransaction = false;
  private batchRows = 0;
  private batchBytes = 0;

  constructor(
    readonly file: string,
    private readonly limits: BatchLimits = DEFAULT_BATCH,
  ) {
    // not defensive (Node's default), which refuses journal_mode = OFF
    this.db = new DatabaseSync(file, { defensive: false });
    this.db.exec("PRAGMA journal_mode = OFF");
    this.db.exec("PRAGMA synchronous = OFF");
    for (const statement of KINE_SCHEMA) this.db.exec(statement);
    this.insert = this.db.prepare(
      "INSERT INTO kine(name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
  }

  /** The next AUTOINCREMENT id will be `revision + 1`. */
  setSequence(revision: number): void {
    const updated = this.db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'kine'").run(revision);
    if (Number(updated.changes) === 0)
      this.db.prepare("INSERT INTO sqlite_sequence(name, seq) VALUES ('kine', ?)").run(revision);
  }

  /** Inserts one row the way kine's `Insert` does; returns its id (the revision). */
  row(
    name: string,
    created: boolean,
    deleted: boolean,
    createRevision: number,
    prevRevision: number,
    lease: number,
    value: Uint8Array | null,
    oldValue: Uint8Array | null,
  ): number {
    if (!this.inTransaction) {
      this.db.exec("BEGIN");
      this.inTransaction = true;
    }
    const result = this.insert.run(
      name,
      created ? 1 : 0,
      deleted ? 1 : 0,
      createRevision,
      prevRevision,
      lease,
      value,
      oldValue,
    );
    this.batchRows++;
    this.batchBytes += (value?.length ?? 0) + (oldValue?.length ?? 0) + name.length;
    return Number(result.lastInsertRowid);
  }

  /** True when the current transaction is full and should be committed. */
  get batchFull(): boolean {
    return this.batchRows >= this.limits.rows || this.batchBytes >= this.limits.bytes;
  }

  commit(): void {
    if (!this.inTransaction) return;
    this.db.exec("COMMIT");
    this.inTransaction = false;
    this.batchRows = 0;
    this.batchBytes = 0;
  }

  /** Commits, switches to WAL and closes; the WAL is checkpointed and removed on close. */
  finish(): void {
    this.commit();
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.close();
  }
}
