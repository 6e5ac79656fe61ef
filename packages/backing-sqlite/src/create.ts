import { promises as fs } from "node:fs";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { type KeyValue, throwIfAborted, VsnapError } from "@vsnap/core";
import { closeQuietly, isConstraint, sqliteError } from "./database.js";
import {
  directoryOf,
  fileSize,
  fsyncFile,
  removeCompanions,
  removeWithCompanions,
  tempPathFor,
} from "./files.js";
import {
  COMPACT_REV_KEY,
  COMPACT_SQL,
  EVENT_TTL_SECONDS,
  FILL_SQL,
  HEALTH_KEY,
  HEALTH_VALUE,
  UPDATE_COMPACT_SQL,
} from "./kine.js";
import { KineWriter } from "./writer.js";

export interface CreateKineDatabaseOptions {
  /**
   * How much history to write besides the final values (0 disables it; default 0.05): this fraction
   * of keys gets an earlier version that was then updated, half as many were deleted and
   * re-created, and as many short-lived keys were created and deleted, as on a real cluster.
   */
  readonly history?: number;
  /** Seeds the choice of keys that get history (default 1). */
  readonly seed?: number;
  /** Run kine's compaction at the end, keeping the newest 1000 revisions as kine does (default false). */
  readonly compact?: boolean;
  /** Replace an existing file (default: fail with ALREADY_EXISTS). */
  readonly overwrite?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (keys: number, bytes: number) => void;
}

export interface KineDatabaseInfo {
  /** Live keys written (the entries, plus kine's health key when the entries lacked it). */
  readonly keys: number;
  /** Bytes of the live values. */
  readonly bytes: number;
  /** Rows in the table, history included. */
  readonly rows: number;
  /** kine's current revision (MAX(id)). */
  readonly revision: number;
}

const EMPTY = new Uint8Array(0);

/** A deterministic per-key draw in [0, 1). */
function draw(seed: number, key: string, salt: number): number {
  let h = (0x811c9dc5 ^ seed ^ Math.imul(salt, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return (h >>> 0) / 0x100000000;
}

/** An earlier version of a value: same size class, some bytes different. */
function olderVersion(value: Uint8Array): Uint8Array {
  const older = new Uint8Array(value);
  for (let i = older.length - 1, n = 0; i >= 0 && n < 8; i -= 7, n++) older[i] = older[i]! ^ 0x5a;
  return older;
}

/**
 * Writes a kine database holding `entries` the way kine would have written it while a cluster
 * created them: compact_rev_key and the health key first, then per key a create row, and for some
 * keys updates, deletions and re-creations (rows that are no longer live), the odd `gap-N` fill row,
 * events with their TTL lease. Written to a temp file and renamed into place. For demos,
 * benchmarks and tests.
 */
export async function createKineDatabase(
  file: string,
  entries: Iterable<KeyValue> | AsyncIterable<KeyValue>,
  options: CreateKineDatabaseOptions = {},
): Promise<KineDatabaseInfo> {
  const { signal, onProgress } = options;
  const history = options.history ?? 0.05;
  const seed = options.seed ?? 1;
  throwIfAborted(signal, "creating a kine database");
  const size = await fileSize(file);
  if (size !== undefined && !options.overwrite) {
    throw new VsnapError("ALREADY_EXISTS", `${file} already exists`, {
      hint: "remove it first, or pass overwrite: true",
    });
  }
  await fs.mkdir(directoryOf(file), { recursive: true });
  const temp = tempPathFor(file);
  let writer: KineWriter | undefined;
  try {
    writer = new KineWriter(temp);
    const w = writer;
    // what kine does at its first start: compactStart() appends compact_rev_key, then the health key
    w.row(COMPACT_REV_KEY, true, false, 0, 0, 0, EMPTY, null);
    const health = Buffer.from(HEALTH_VALUE);
    let healthId = w.row(HEALTH_KEY, true, false, 0, 0, 0, health, null);
    const fill = w.db.prepare(FILL_SQL);
    const latest = w.db.prepare("SELECT id, deleted FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1");
    const maxId = w.db.prepare("SELECT MAX(id) AS id FROM kine");
    let keys = 1;
    let bytes = health.length;
    let rows = 2;
    let gapEvery = 0;

    const create = (key: string, value: Uint8Array | null, lease: number): number => {
      try {
        return w.row(key, true, false, 0, 0, lease, value, null);
      } catch (error) {
        if (!isConstraint(error)) throw error;
        // the name has rows already: re-create after a delete, or update a live key, as kine would
        const prev = latest.get(key) as { id: number | bigint; deleted: number | bigint } | undefined;
        const prevId = Number(prev?.id ?? 0);
        if (Number(prev?.deleted ?? 0) !== 0) return w.row(key, true, false, 0, prevId, lease, value, null);
        const first = w.db
          .prepare("SELECT id FROM kine WHERE name = ? AND created = 1 ORDER BY id DESC LIMIT 1")
          .get(key) as { id: number | bigint } | undefined;
        keys--; // it was counted when first written
        return w.row(
          key,
          false,
          false,
          Number(first?.id ?? prevId),
          prevId,
          lease,
          value,
          w.db.prepare("SELECT value FROM kine WHERE id = ?").get(prevId)?.value as Uint8Array,
        );
      }
    };

    for await (const { key, value } of entries) {
      const lease = key.startsWith("/registry/events/") ? EVENT_TTL_SECONDS : 0;
      if (key === HEALTH_KEY) {
        healthId = w.row(key, false, false, 2, healthId, lease, value, health);
        bytes += value.length - health.length;
        rows++;
      } else if (history > 0 && draw(seed, key, 1) < history) {
        // created earlier with another value, then updated
        const older = olderVersion(value);
        const createdId = create(key, older, lease);
        w.row(key, false, false, createdId, createdId, lease, value, older);
        rows += 2;
      } else if (history > 0 && draw(seed, key, 2) < history / 2) {
        // created, deleted, created again
        const older = olderVersion(value);
        const createdId = create(key, older, lease);
        const deletedId = w.row(key, false, true, 0, createdId, 0, null, older);
        w.row(key, true, false, 0, deletedId, lease, value, null);
        rows += 3;
      } else {
        create(key, value, lease);
        rows++;
      }
      keys++;
      bytes += value.length;
      if (history > 0 && draw(seed, key, 3) < history) {
        // a short-lived key (a finished Job's pod, an expired event): created, then deleted
        const ghost = `${key}~gone`;
        const older = olderVersion(value);
        const ghostId = create(ghost, older, lease);
        w.row(ghost, false, true, 0, ghostId, 0, null, older);
        rows += 2;
      }
      if (history > 0 && ++gapEvery % 5000 === 0) {
        // a revision kine's poll loop found skipped and filled
        const gap = Number((maxId.get() as { id: number | bigint }).id) + 1;
        fill.run(gap, `gap-${gap}`);
        rows++;
      }
      if (w.batchFull) {
        w.commit();
        onProgress?.(keys, bytes);
        await yieldToEventLoop();
        throwIfAborted(signal, "creating a kine database");
      }
    }
    w.commit();
    const revision = Number((maxId.get() as { id: number | bigint }).id);
    if (options.compact && revision > 1000) {
      const target = revision - 1000; // kine's compactMinRetain
      w.db.exec("BEGIN");
      const deleted = w.db.prepare(COMPACT_SQL).run(target, target);
      w.db.prepare(UPDATE_COMPACT_SQL).run(target);
      w.db.exec("COMMIT");
      rows -= Number(deleted.changes);
    }
    writer.finish();
    writer = undefined;
    onProgress?.(keys, bytes);
    await fsyncFile(temp);
    await removeCompanions(file);
    await fs.rename(temp, file);
    return { keys, bytes, rows, revision };
  } catch (error) {
    if (writer) closeQuietly(writer.db);
    await removeWithCompanions(temp).catch(() => undefined);
    throw sqliteError(error, `cannot create kine database ${file}`);
  }
}
