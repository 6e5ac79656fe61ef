import { promises as fs } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { type ErrorCode, VsnapError } from "@vsnap/core";

/** SQLite result codes we branch on (primary codes; extended codes keep them in the low byte). */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CANTOPEN = 14;
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;
const SQLITE_CONSTRAINT = 19;
const SQLITE_FULL = 13;
const SQLITE_READONLY = 8;
const SQLITE_PERM = 3;

/** The SQLite result code of an error thrown by node:sqlite, if it is one. */
export function sqliteCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === "number" ? code & 0xff : undefined;
}

export function isBusy(error: unknown): boolean {
  const code = sqliteCode(error);
  return code === SQLITE_BUSY || code === SQLITE_LOCKED;
}

export function isConstraint(error: unknown): boolean {
  return sqliteCode(error) === SQLITE_CONSTRAINT;
}

export function isNotADatabase(error: unknown): boolean {
  const code = sqliteCode(error);
  return code === SQLITE_NOTADB || code === SQLITE_CORRUPT;
}

/** Maps a node:sqlite (or fs) failure onto a VsnapError with an actionable hint. */
export function sqliteError(error: unknown, context: string): VsnapError {
  if (VsnapError.is(error)) return error;
  const code = sqliteCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  const make = (kind: ErrorCode, message: string, hint?: string) =>
    new VsnapError(kind, `${context}: ${message}`, { cause: error, hint });
  switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return make(
        "UNAVAILABLE",
        `the database is locked (${detail})`,
        "another process holds a lock; retry, or stop the vCluster first",
      );
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return make(
        "INTEGRITY",
        `not a readable SQLite database (${detail})`,
        "check that the path points at kine's state.db",
      );
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return make(
        "PERMISSION_DENIED",
        detail,
        "check the file's and its directory's permissions (WAL mode needs to write -wal and -shm next to it)",
      );
    case SQLITE_FULL:
      return make("UNAVAILABLE", `disk full (${detail})`, "free space on the target's filesystem");
    default: {
      const errno = (error as { code?: unknown } | null)?.code;
      if (errno === "ENOENT") return make("NOT_FOUND", detail);
      if (errno === "EACCES" || errno === "EPERM") return make("PERMISSION_DENIED", detail);
      if (errno === "ENOSPC")
        return make("UNAVAILABLE", `disk full (${detail})`, "free space on the target's filesystem");
      return make("INTERNAL", detail);
    }
  }
}

/** Opens a database file read-write (so WAL and -shm are honoured) without creating it. */
export async function openExisting(file: string, what: string): Promise<DatabaseSync> {
  let stat: Awaited<ReturnType<typeof fs.stat>>;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") {
      throw new VsnapError("NOT_FOUND", `${what}: ${file} does not exist`, {
        hint: "pass the path of kine's database (vCluster keeps it at /data/state.db)",
      });
    }
    throw sqliteError(error, what);
  }
  if (!stat.isFile()) throw new VsnapError("INVALID_ARGUMENT", `${what}: ${file} is not a regular file`);
  try {
    return new DatabaseSync(file);
  } catch (error) {
    throw sqliteError(error, what);
  }
}

export function hasKineTable(db: DatabaseSync): boolean {
  return (
    db.prepare("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'kine'").get() !==
    undefined
  );
}

/** Closes quietly: used on error paths, where the first failure is the one worth reporting. */
export function closeQuietly(db: DatabaseSync | undefined): void {
  try {
    db?.close(); // throws if already closed; `isOpen` needs Node 22.15
  } catch {
    // already failing; nothing useful to add
  }
}

export function toNumber(value: unknown): number {
  return typeof value === "bigint" ? Number(value) : typeof value === "number" ? value : 0;
}
