import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { KeyValue } from "@vsnap/core";
import { KINE_REFERENCE_SCHEMA } from "./kine-statements.js";

export function sqlite3(db: string, sql: string): string {
  return execFileSync("sqlite3", [db], { input: sql, encoding: "utf8" });
}

export function tempDir(): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), "vsnap-sqlite-"));
  return {
    dir,
    file: (name) => path.join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const sha = (value: Uint8Array | null | undefined) =>
  createHash("sha1")
    .update(value ?? new Uint8Array(0))
    .digest("hex");

export async function collect(entries: AsyncIterable<KeyValue>): Promise<KeyValue[]> {
  const out: KeyValue[] = [];
  for await (const entry of entries) out.push(entry);
  return out;
}

/** Byte order of keys, independent of the code under test. */
export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

export interface Row {
  readonly id: number;
  readonly name: string | number;
  readonly deleted: number;
  readonly value: Uint8Array | null;
}

/**
 * The live view recomputed from scratch by replaying rows in id order: the semantics kine's
 * queries implement, written as a fold rather than as SQL.
 */
export function replay(rows: Iterable<Row>, upTo = Number.POSITIVE_INFINITY): Map<string, string> {
  const latest = new Map<string, Row>();
  for (const row of [...rows].sort((a, b) => a.id - b.id)) {
    if (row.id > upTo || typeof row.name !== "string") continue;
    latest.set(row.name, row);
  }
  const view = new Map<string, string>();
  const names = [...latest.keys()]
    .filter((n) => n >= "/" && n < "0" && !n.startsWith("/vcluster/snapshot/"))
    .sort(byteCompare);
  for (const name of names) {
    const row = latest.get(name)!;
    if (row.deleted === 0) view.set(name, sha(row.value));
  }
  return view;
}

export function rowsOf(file: string): Row[] {
  const db = new DatabaseSync(file);
  try {
    return db
      .prepare("SELECT id, name, deleted, value FROM kine ORDER BY id")
      .all()
      .map((r) => ({
        id: Number(r.id),
        name: r.name as string | number,
        deleted: Number(r.deleted),
        value: (r.value as Uint8Array | null) ?? null,
      }));
  } finally {
    db.close();
  }
}

export function viewOf(entries: readonly KeyValue[]): Map<string, string> {
  return new Map(entries.map((e) => [e.key, sha(e.value)]));
}

/** A reference database: kine's statements executed by the sqlite3 CLI. */
export function referenceKineDb(file: string): void {
  sqlite3(file, `PRAGMA journal_mode=WAL;\n${KINE_REFERENCE_SCHEMA}`);
}

export function masterOf(file: string): string {
  return sqlite3(file, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name;");
}

/** Inserts a row the way kine's InsertLastInsertIDSQL does; returns its id. */
export function kineInsert(
  db: DatabaseSync,
  name: string,
  opts: {
    created?: boolean;
    deleted?: boolean;
    createRevision?: number;
    prevRevision?: number;
    lease?: number;
    value?: Uint8Array | null;
  },
): number {
  const result = db
    .prepare(
      "INSERT INTO kine(name, created, deleted, create_revision, prev_revision, lease, value, old_value) SELECT ?, ?, ?, ?, ?, ?, ?, (SELECT value FROM kine WHERE id = ?) AS old_value",
    )
    .run(
      name,
      opts.created ? 1 : 0,
      opts.deleted ? 1 : 0,
      opts.createRevision ?? 0,
      opts.prevRevision ?? 0,
      opts.lease ?? 0,
      opts.value ?? null,
      opts.prevRevision ?? 0,
    );
  return Number(result.lastInsertRowid);
}
