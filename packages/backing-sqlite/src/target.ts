import { promises as fs } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import {
  EarlyWriteback,
  isAbortError,
  isTransient,
  type KeyValue,
  type RestoreOptions,
  type RestoreResult,
  type RestoreTarget,
  releaseView,
  throwIfAborted,
  VsnapError,
} from "@vsnap/core";
import {
  closeQuietly,
  hasKineTable,
  isBusy,
  isConstraint,
  isNotADatabase,
  sqliteError,
  toNumber,
} from "./database.js";
import {
  directoryOf,
  fileSize,
  fsyncDirectory,
  removeCompanions,
  removeWithCompanions,
  tempPathFor,
} from "./files.js";
import {
  COMPACT_REV_KEY,
  CURRENT_REVISION_SQL,
  HOLDS_DATA_SQL,
  isSnapshotMetadataKey,
  REVISION_BUMP,
} from "./kine.js";
import { type BatchLimits, DEFAULT_BATCH } from "./writer.js";
import { KineWriterThread } from "./writer-thread.js";

export interface SqliteTargetOptions {
  /** Replace a target that holds data (the CLI's `--force`); `RestoreOptions.force` also sets it. */
  readonly force?: boolean;
  /** Rows and bytes per write transaction. */
  readonly batch?: Partial<BatchLimits>;
}

/** What is at the target path before a restore. */
interface ExistingTarget {
  /** An open handle holding an exclusive lock, when the target is a readable SQLite file. */
  readonly db?: DatabaseSync;
  readonly holdsData: boolean;
  readonly what: string;
  /** kine's revision there (max of MAX(id) and the AUTOINCREMENT sequence). */
  readonly revision: number;
}

/**
 * Locks the existing target exclusively, which fails while any other process (a running kine) has
 * it open, and finds out whether it holds data. The lock is kept until the swap, so a kine cannot
 * start on the old file mid-restore.
 */
function inspectExisting(file: string, description: string): ExistingTarget {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(file);
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
  } catch (error) {
    closeQuietly(db);
    if (isBusy(error)) {
      throw new VsnapError("FAILED_PRECONDITION", `${description} is in use by another process`, {
        cause: error,
        hint: "stop the vCluster (scale its StatefulSet to 0) before restoring into its database",
      });
    }
    if (isNotADatabase(error))
      return { holdsData: true, what: "a file that is not an SQLite database", revision: 0 };
    throw sqliteError(error, `cannot open ${description}`);
  }
  try {
    if (!hasKineTable(db)) {
      const tables = toNumber(db.prepare("SELECT COUNT(*) AS n FROM sqlite_master").get()?.n);
      db.exec("COMMIT");
      return { db, holdsData: tables > 0, what: "an SQLite database that is not kine's", revision: 0 };
    }
    const sample = db.prepare(HOLDS_DATA_SQL).get() as { name?: string } | undefined;
    const maxId = toNumber(db.prepare(CURRENT_REVISION_SQL).get()?.revision);
    const sequence = toNumber(db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'kine'").get()?.seq);
    db.exec("COMMIT");
    return {
      db,
      holdsData: sample !== undefined,
      what:
        sample === undefined ? "an empty kine database" : `a kine database with data (e.g. ${sample.name})`,
      revision: Math.max(maxId, sequence),
    };
  } catch (error) {
    if (isBusy(error)) {
      closeQuietly(db);
      throw sqliteError(error, `cannot inspect ${description}`);
    }
    // unreadable, damaged, or a "kine" table kine did not create: content we cannot vouch for
    try {
      db.exec("ROLLBACK");
    } catch {
      // no transaction open
    }
    return { db, holdsData: true, what: "an SQLite database kine did not write", revision: 0 };
  }
}

/** Folds the old database's WAL into it and lets go of it, right before the swap. */
function releaseExisting(existing: ExistingTarget | undefined): void {
  if (existing?.db === undefined) return;
  try {
    existing.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch {
    // the file is being replaced; its WAL is removed next anyway
  }
  closeQuietly(existing.db);
}

/**
 * A restore target that writes a NEW kine database: rows exactly as kine writes freshly created
 * keys, in bounded transactions, into `<file>.vsnap-restore-<rand>` next to the target, renamed over
 * it only once complete. Until then the old file is untouched; a failed or aborted restore deletes
 * the temp file and leaves everything as it was.
 */
export function sqliteTarget(file: string, targetOptions: SqliteTargetOptions = {}): RestoreTarget {
  const description = `sqlite:${file}`;
  const limits: BatchLimits = { ...DEFAULT_BATCH, ...targetOptions.batch };
  return {
    kind: "sqlite",
    description,
    // a new temp file, renamed over the target only after the last entry: nothing shows before
    staged: true,
    async restore(entries: AsyncIterable<KeyValue>, options: RestoreOptions = {}): Promise<RestoreResult> {
      const { signal, onProgress } = options;
      const force = options.force ?? targetOptions.force ?? false;
      throwIfAborted(signal, "restore");
      await fs.mkdir(directoryOf(file), { recursive: true });

      const size = await fileSize(file).catch((error: unknown) => {
        throw sqliteError(error, `cannot inspect ${description}`);
      });
      if (size === -1)
        throw new VsnapError("INVALID_ARGUMENT", `${description}: ${file} exists and is not a regular file`);
      const existing = size !== undefined && size > 0 ? inspectExisting(file, description) : undefined;
      if (existing?.holdsData && !force) {
        closeQuietly(existing.db);
        throw new VsnapError(
          "FAILED_PRECONDITION",
          `${description} already holds ${existing.what}; refusing to overwrite it`,
          {
            hint: "pass --force to replace it (the vCluster must be stopped)",
          },
        );
      }

      // Revisions must only move forward for anyone who watched the old or the snapshotted store:
      // start past both, by vCluster's margin (kubernetes/kubernetes#118501).
      const base = Math.max(options.revision ?? 0, existing?.revision ?? 0) + REVISION_BUMP;
      const temp = tempPathFor(file);
      let writer: KineWriterThread | undefined;
      let writeback: EarlyWriteback | undefined;
      let created = false;
      try {
        // created here (never over an existing file), so that it can be opened for the early
        // writeback while the writer thread still boots
        await fs.writeFile(temp, new Uint8Array(0), { flag: "wx" });
        created = true;
        writer = KineWriterThread.start(temp, limits);
        // the file is flushed as it grows: the fsync below then has little left to wait for
        writeback = await EarlyWriteback.forPath(temp);
        writer.setSequence(base);
        // kine creates this row itself when missing; writing it marks everything up to `base` as
        // compacted, so a client resuming a watch from an old revision gets "compacted" and
        // relists (what etcd's restore does with --mark-compacted) instead of silently missing
        // the deletions a restore implies.
        writer.row([COMPACT_REV_KEY, 1, 0, 0, base, 0, new Uint8Array(0), null]);
        let keys = 0;
        let bytes = 0;
        const transient = isTransient(entries);
        for await (const { key, value } of entries) {
          if (signal?.aborted) throwIfAborted(signal, "restore");
          if (typeof key !== "string" || !key.startsWith("/")) {
            throw new VsnapError(
              "INVALID_ARGUMENT",
              `cannot restore key ${JSON.stringify(key)}: kine keys of a snapshot start with "/"`,
              {
                hint: "the snapshot is not a key/value snapshot of a Kubernetes store",
              },
            );
          }
          if (isSnapshotMetadataKey(key)) continue;
          // a freshly created key, as kine's Create writes it: created=1, no previous revision, no lease
          const wait = writer.add(key, value);
          keys++;
          bytes += value.length;
          writeback.written(value.length);
          // copied into the batch: a marked stream's value is freed at once
          if (transient) releaseView(value);
          if (wait) {
            await wait;
            onProgress?.(keys, bytes);
            throwIfAborted(signal, "restore");
          }
        }
        throwIfAborted(signal, "restore");
        await writer.finish();
        writer = undefined;
        onProgress?.(keys, bytes);
        await writeback.sync();
        await writeback.close();
        writeback = undefined;

        releaseExisting(existing);
        // a stale WAL must never be replayed onto the new file: remove companions before the rename
        await removeCompanions(file);
        await fs.rename(temp, file);
        await fsyncDirectory(directoryOf(file));
        return { keys, bytes, revision: base + 1 + keys };
      } catch (error) {
        if (writer) await writer.close();
        await writeback?.close().catch(() => undefined);
        if (created) await removeWithCompanions(temp).catch(() => undefined);
        closeQuietly(existing?.db);
        if (isAbortError(error) || signal?.aborted) {
          throw VsnapError.is(error, "ABORTED")
            ? error
            : new VsnapError("ABORTED", "restore aborted", { cause: error });
        }
        if (isConstraint(error)) {
          // kine_name_prev_revision_uindex: every restored row has prev_revision 0
          const key = (error as { key?: unknown }).key;
          throw new VsnapError("INVALID_ARGUMENT", `the snapshot holds key ${String(key)} twice`, {
            cause: error,
            hint: "the archive is malformed; verify it",
          });
        }
        throw sqliteError(error, `cannot restore into ${description}`);
      }
    },
  };
}
