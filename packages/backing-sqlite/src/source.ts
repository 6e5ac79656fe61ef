import type { DatabaseSync } from "node:sqlite";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import {
  type EntriesOptions,
  type KeyValue,
  type KeyValueReadPoint,
  releaseView,
  type SnapshotSource,
  throwIfAborted,
  VsnapError,
} from "@vsnap/core";
import {
  closeQuietly,
  hasKineTable,
  isNotADatabase,
  openExisting,
  sqliteError,
  toNumber,
} from "./database.js";
import { CURRENT_REVISION_SQL, LIVE_TOTALS_SQL, LIVE_VIEW_SQL } from "./kine.js";

export interface SqliteSourceOptions {
  /** Rows read between yields to the event loop (default 256). */
  readonly pageSize?: number;
  /** Count keys and bytes up front (one extra index pass, about a third of a read); default true. */
  readonly totals?: boolean;
  /** How long to wait for a lock held by another process, in ms (default 10 s). */
  readonly busyTimeoutMs?: number;
}

/** A SnapshotSource whose read points are always key/value ones. */
export interface SqliteSnapshotSource extends SnapshotSource {
  readonly kind: "sqlite";
  open(options?: { signal?: AbortSignal }): Promise<KeyValueReadPoint>;
}

const EMPTY = new Uint8Array(0);

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return Buffer.from(value, "utf8"); // kine binds []byte, but be lenient
  return EMPTY; // NULL
}

/**
 * A snapshot source over kine's SQLite database (vCluster's embedded backing store).
 *
 * `open()` pins one point in time with a read transaction: in WAL mode a reader sees the database as
 * of its first read for as long as the transaction lasts, while kine keeps writing. Everything (the
 * revision, the totals, every page of entries) is read inside that one transaction, and nothing is
 * ever written.
 */
export function sqliteSource(file: string, options: SqliteSourceOptions = {}): SqliteSnapshotSource {
  const description = `sqlite:${file}`;
  const pageSize = Math.max(1, options.pageSize ?? 256);
  return {
    kind: "sqlite",
    description,
    async open({ signal } = {}) {
      throwIfAborted(signal, "opening the kine database");
      const db = await openExisting(file, `cannot open ${description}`);
      try {
        db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 10_000))}`);
        // a guard against ever writing to a live cluster's store, whatever the code below does
        db.exec("PRAGMA query_only = 1");
        if (!hasKineTable(db)) {
          throw new VsnapError(
            "FAILED_PRECONDITION",
            `${description} is an SQLite database but has no kine table`,
            {
              hint: "point vsnap at the database kine serves (vCluster: /data/state.db)",
            },
          );
        }
        db.exec("BEGIN");
        // The first read starts the snapshot; the revision is kine's: the highest row id it holds.
        const revision = toNumber(db.prepare(CURRENT_REVISION_SQL).get()?.revision);
        let totals = {};
        if (options.totals ?? true) {
          const row = db.prepare(LIVE_TOTALS_SQL).get();
          totals = { keys: toNumber(row?.keys), bytes: toNumber(row?.bytes) };
        }
        return readPoint(db, description, revision, totals, pageSize);
      } catch (error) {
        closeQuietly(db);
        if (isNotADatabase(error)) {
          throw new VsnapError("INVALID_ARGUMENT", `${description} is not an SQLite database`, {
            cause: error,
            hint: "point vsnap at kine's database file (vCluster: /data/state.db)",
          });
        }
        throw sqliteError(error, `cannot read ${description}`);
      }
    },
  };
}

/** Frees the values SQLite copied out for this page (each in an ArrayBuffer of its own). */
function releaseValues(page: readonly KeyValue[]): void {
  for (const { value } of page) releaseView(value);
}

function readPoint(
  db: DatabaseSync,
  description: string,
  revision: number,
  totals: KeyValueReadPoint["totals"],
  pageSize: number,
): KeyValueReadPoint {
  let closed = false;
  return {
    mode: "kv",
    kind: "sqlite",
    revision,
    totals,
    async *entries(signal?: AbortSignal, options: EntriesOptions = {}): AsyncGenerator<KeyValue> {
      if (closed) throw new VsnapError("FAILED_PRECONDITION", `${description}: read point is closed`);
      const rows = db.prepare(LIVE_VIEW_SQL).iterate();
      try {
        for (;;) {
          throwIfAborted(signal, "reading the kine database");
          // a page of rows, synchronously; then let the event loop breathe
          const page: KeyValue[] = [];
          for (let i = 0; i < pageSize; i++) {
            const next = rows.next();
            if (next.done) break;
            const row = next.value as { name: string; value: unknown };
            page.push({ key: row.name, value: toBytes(row.value) });
          }
          yield* page;
          if (options.transient) releaseValues(page);
          if (page.length < pageSize) return;
          await yieldToEventLoop();
        }
      } catch (error) {
        if (closed)
          throw new VsnapError("ABORTED", `${description}: read point closed while reading`, {
            cause: error,
          });
        throw sqliteError(error, `reading ${description}`);
      } finally {
        // resets the statement so the transaction holds no cursor; harmless once closed
        try {
          rows.return?.();
        } catch {
          // the database was closed under us
        }
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        db.exec("ROLLBACK"); // ends the read transaction: kine's checkpoints can complete again
      } catch {
        // no transaction left (e.g. the database was closed)
      }
      closeQuietly(db);
    },
  };
}
