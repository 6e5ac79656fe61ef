import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  type ArchiveEntry,
  type ArchiveMetadata,
  type ArchiveReadResult,
  type HelmRelease,
  readArchive,
  type SnapshotRequestRecord,
  type VolumeSnapshotRecord,
  VsnapError,
} from "@vsnap/core";
import { type EtcdDatabaseReadPoint, openEtcdDatabase } from "./bbolt/etcd-db.js";
import type { DbCheckResult } from "./db-trailer.js";
import {
  prepare,
  type RestoreEtcdDatabaseOptions,
  type RestoreEtcdDatabaseResult,
  restoreStaged,
  stageDb,
} from "./restore-db.js";

export interface DbArchiveContents {
  /** The archive's metadata, to carry over into a converted archive. */
  readonly metadata: ArchiveMetadata;
  /** vCluster's `/vcluster/snapshot/skipkeys`: keys a restore leaves out. */
  readonly skipKeys: ReadonlySet<string>;
  /** What reading the archive established (manifest checked when present). */
  readonly archive: ArchiveReadResult;
}

/**
 * Reads a db-mode archive (vsnap's, or vCluster's embedded-etcd snapshot) and stages its db in
 * `file`, checking etcd's SHA-256 trailer while copying and then the rest of the archive to its
 * end (manifest included): when this resolves, the staged db is known good.
 */
async function stageDbFromArchive(
  source: AsyncIterable<Uint8Array>,
  file: string,
  options: { readonly signal?: AbortSignal; readonly onDbProgress?: (bytes: number) => void },
): Promise<DbArchiveContents & { check: DbCheckResult }> {
  const reader = readArchive(source, options.signal ? { signal: options.signal } : {});
  let check: DbCheckResult | undefined;
  let release: HelmRelease | undefined;
  let request: SnapshotRequestRecord | undefined;
  let vclusterConfig: string | undefined;
  let volumes: VolumeSnapshotRecord[] | undefined;
  let skipKeys = new Set<string>();
  for await (const entry of reader) {
    switch (entry.kind) {
      case "db":
        if (check) throw new VsnapError("INTEGRITY", `archive contains more than one ${entry.name} entry`);
        check = await stageDb(entry.stream(), file, options.signal, options.onDbProgress);
        break;
      case "release":
        release = (await json(entry)) as HelmRelease;
        break;
      case "request":
        request = (await json(entry)) as SnapshotRequestRecord;
        break;
      case "config":
        vclusterConfig = (await entry.bytes()).toString("utf8");
        break;
      case "volumes":
        volumes = (await json(entry)) as VolumeSnapshotRecord[];
        break;
      case "skipkeys":
        skipKeys = new Set(Object.keys((await json(entry)) as Record<string, unknown>));
        break;
      case "key":
        throw new VsnapError(
          "INVALID_ARGUMENT",
          "this archive holds key/value entries, not an etcd db snapshot",
          { hint: "restore it into a running etcd (--etcd ENDPOINTS) or SQLite instead of a data dir" },
        );
      default:
        break;
    }
  }
  if (!check) {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      "the archive has no /vcluster/snapshot/db entry (an etcd db snapshot)",
      {
        hint: "a key/value archive restores into a running etcd or SQLite",
      },
    );
  }
  const archive = reader.result;
  if (!archive) throw new VsnapError("INTERNAL", "the archive reader ended without a result");
  return {
    check,
    archive,
    skipKeys,
    metadata: {
      ...(release ? { release } : {}),
      ...(request ? { request } : {}),
      ...(vclusterConfig !== undefined ? { vclusterConfig } : {}),
      ...(volumes ? { volumes } : {}),
    },
  };
}

async function json(entry: ArchiveEntry): Promise<unknown> {
  const text = (await entry.bytes()).toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    throw new VsnapError("INTEGRITY", `archive entry ${entry.name} is not valid JSON`);
  }
}

export type RestoreDbArchiveOptions = Omit<RestoreEtcdDatabaseOptions, "db">;

export interface RestoreDbArchiveResult extends RestoreEtcdDatabaseResult, DbArchiveContents {}

/**
 * Restores a db-mode archive into a new etcd data dir with etcd's own tool. Nothing is written
 * to the data dir unless the whole archive checked out (gzip, tar, manifest, etcd's trailer).
 * vCluster's skipkeys cannot be applied to a data dir without running etcd: they are returned.
 */
export async function restoreEtcdDatabaseFromArchive(
  source: AsyncIterable<Uint8Array>,
  options: RestoreDbArchiveOptions,
): Promise<RestoreDbArchiveResult> {
  const { existing, tool, stagedPath } = await prepare(options);
  try {
    const staged = await stageDbFromArchive(source, stagedPath, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onDbProgress: options.onProgress } : {}),
    });
    const restored = await restoreStaged(stagedPath, staged.check, options, existing, tool);
    return { ...restored, metadata: staged.metadata, skipKeys: staged.skipKeys, archive: staged.archive };
  } finally {
    await rm(stagedPath, { force: true });
  }
}

export interface DbArchiveKeyValues extends DbArchiveContents {
  /** The db's live keys at its revision; `close()` removes the temporary db file. */
  readonly readPoint: EtcdDatabaseReadPoint;
}

/**
 * Converts a db-mode archive into key/value form without running etcd (vCluster's
 * `ConvertEtcdSnapshotToKeyValueSnapshot`, in TypeScript): the db is staged in a private
 * temporary file (bbolt needs random access), verified, and read with the bbolt reader. Feed
 * `readPoint` to `writeArchive` (with `metadata`) for a key/value archive, or its `entries()` to
 * any RestoreTarget (SQLite/kine, a live etcd). Skip keys are left out.
 */
export async function dbArchiveToKeyValues(
  source: AsyncIterable<Uint8Array>,
  options: { readonly tempDir?: string; readonly signal?: AbortSignal } = {},
): Promise<DbArchiveKeyValues> {
  const dir = await mkdtemp(path.join(options.tempDir ?? os.tmpdir(), "vsnap-etcd-db-"));
  const file = path.join(dir, `${randomBytes(4).toString("hex")}.db`);
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const staged = await stageDbFromArchive(source, file, options.signal ? { signal: options.signal } : {});
    const readPoint = await openEtcdDatabase(file, {
      skipKeys: staged.skipKeys,
      ...(options.signal ? { signal: options.signal } : {}),
      onClose: cleanup,
    });
    return { readPoint, metadata: staged.metadata, skipKeys: staged.skipKeys, archive: staged.archive };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
