import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  type ArchiveEntry,
  type ArchiveMetadata,
  ArchiveMetadataCollector,
  type ArchiveReadResult,
  DB_ENTRY,
  type HelmRelease,
  type KeyValue,
  markTransient,
  readArchive,
  type SnapshotRequestRecord,
  type VolumeSnapshotRecord,
  VsnapError,
} from "@vsnap/core";
import { type EtcdDatabaseReadPoint, openEtcdDatabase, readEtcdDatabaseRevision } from "./bbolt/etcd-db.js";
import { type EtcdDatabaseBuild, writeEtcdDatabase } from "./bbolt/etcd-db-writer.js";
import {
  DEFAULT_REVISION_BUMP,
  prepare,
  type RestoreEtcdDatabaseOptions,
  type RestoreEtcdDatabaseResult,
  restoreStaged,
  type StagedDb,
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
 * Reads an archive and stages an etcd db in `file`: a db-mode archive's db (vsnap's, or vCluster's
 * embedded-etcd snapshot), its SHA-256 trailer checked while copying; or, from a key/value archive,
 * a db built from its keys (bbolt/etcd-db-writer.ts), each key at its own revision past
 * `max(snapshot revision, floorRevision) + revisionBump`. The rest of the archive is read to its
 * end (manifest included): when this resolves, the staged db is known good.
 */
async function stageDbFromArchive(
  source: AsyncIterable<Uint8Array>,
  file: string,
  options: {
    readonly signal?: AbortSignal;
    readonly onDbProgress?: (bytes: number) => void;
    /**
     * Revisions added past the snapshot's (and the floor's) when building a db from a key/value
     * archive; without it a key/value archive is refused.
     */
    readonly revisionBump?: number;
    /** For a key/value archive: a revision the restored keys must be past (the replaced data dir's). */
    readonly floorRevision?: number;
  },
): Promise<
  DbArchiveContents & {
    check: StagedDb;
    built?: EtcdDatabaseBuild;
    /** The archive's revision entry. */
    snapshotRevision?: number;
  }
> {
  const reader = readArchive(source, options.signal ? { signal: options.signal } : {});
  const entries = reader[Symbol.asyncIterator]();
  let check: StagedDb | undefined;
  let built: EtcdDatabaseBuild | undefined;
  let release: HelmRelease | undefined;
  let request: SnapshotRequestRecord | undefined;
  let vclusterConfig: string | undefined;
  let volumes: VolumeSnapshotRecord[] | undefined;
  let revision: number | undefined;
  let skipKeys = new Set<string>();
  const collector = new ArchiveMetadataCollector();
  /** Takes a metadata entry in (before, between or after the keys). */
  const metadataEntry = async (entry: ArchiveEntry) => {
    switch (entry.kind) {
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
      case "revision":
        await collector.take(entry);
        revision = collector.revision;
        break;
      default:
        break;
    }
  };
  /** The first key entry and every later one; other entries are taken in on the way. */
  async function* keyValues(first: ArchiveEntry): AsyncGenerator<KeyValue> {
    yield { key: first.name, value: await first.bytes() };
    for (;;) {
      const next = await entries.next();
      if (next.done) return;
      const entry = next.value;
      if (entry.kind === "key") yield { key: entry.name, value: await entry.bytes() };
      else if (entry.kind === "db") throw mixed(entry.name);
      else await metadataEntry(entry);
    }
  }
  try {
    await readAll();
  } catch (error) {
    // stop the reader (and the source under it) as `for await` would
    await entries.return?.(undefined)?.catch(() => undefined);
    throw error;
  }
  async function readAll(): Promise<void> {
    for (;;) {
      const next = await entries.next();
      if (next.done) break;
      const entry = next.value;
      if (entry.kind === "db") {
        if (check) throw new VsnapError("INTEGRITY", `archive contains more than one ${entry.name} entry`);
        // stageDb has written each chunk before it reads the next
        check = await stageDb(entry.stream({ transient: true }), file, options.signal, options.onDbProgress);
      } else if (entry.kind === "key") {
        if (check) throw mixed(DB_ENTRY);
        if (options.revisionBump === undefined) {
          throw new VsnapError(
            "INVALID_ARGUMENT",
            "this archive holds key/value entries, not an etcd db snapshot",
            { hint: "restore it into a running etcd, an etcd data dir or SQLite" },
          );
        }
        // vsnap writes the revision before the keys; without one, the floor (or 0) stands in for it
        const base = Math.max(revision ?? 0, options.floorRevision ?? 0) + options.revisionBump;
        // each value is read out of the archive for this write alone
        built = await writeEtcdDatabase(file, markTransient(keyValues(entry)), {
          baseRevision: base,
          ...(options.signal ? { signal: options.signal } : {}),
        });
        check = { hasTrailer: false, dbSize: (await stat(file)).size };
      } else {
        await metadataEntry(entry);
      }
    }
  }
  if (!check) {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      "the archive has neither a /vcluster/snapshot/db entry (an etcd db snapshot) nor keys",
      { hint: "it holds no backing-store data to restore" },
    );
  }
  const archive = reader.result;
  if (!archive) throw new VsnapError("INTERNAL", "the archive reader ended without a result");
  return {
    check,
    ...(built ? { built } : {}),
    ...(revision !== undefined ? { snapshotRevision: revision } : {}),
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

function mixed(name: string): VsnapError {
  return new VsnapError("INTEGRITY", `archive holds both key/value entries and ${name}`);
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

export interface RestoreDbArchiveResult extends RestoreEtcdDatabaseResult, DbArchiveContents {
  /** Keys restored, for a key/value archive (a db archive's count is not known without etcd). */
  readonly keys?: number;
}

/**
 * Restores an archive into a new etcd data dir with etcd's own tool: a db-mode archive's db, or a
 * key/value archive's keys built into a db first (far faster than writing them through a live
 * etcd, and what vCluster's embedded etcd restores from). Nothing is written to the data dir
 * unless the whole archive checked out (gzip, tar, manifest, etcd's trailer). vCluster's skipkeys
 * cannot be applied to a data dir without running etcd: they are returned.
 */
export async function restoreEtcdDatabaseFromArchive(
  source: AsyncIterable<Uint8Array>,
  options: RestoreDbArchiveOptions,
): Promise<RestoreDbArchiveResult> {
  const { existing, tool, stagedPath } = await prepare(options);
  const revisionBump = options.revisionBump ?? DEFAULT_REVISION_BUMP;
  try {
    const floorRevision =
      existing === "non-empty" ? await dataDirRevision(options.dataDir, options.onNotice) : undefined;
    const staged = await stageDbFromArchive(source, stagedPath, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onDbProgress: options.onProgress } : {}),
      revisionBump,
      ...(floorRevision !== undefined ? { floorRevision } : {}),
    });
    // A built db has its revisions bumped and history marked compacted already.
    const restored = await restoreStaged(
      stagedPath,
      staged.check,
      staged.built ? { ...options, revisionBump: 0, built: true } : options,
      existing,
      tool,
    );
    const { built } = staged;
    return {
      ...restored,
      ...(built
        ? {
            revision: staged.snapshotRevision ?? 0,
            revisionBump: built.compactedAt - (staged.snapshotRevision ?? 0),
            keys: built.keys,
          }
        : {}),
      metadata: staged.metadata,
      skipKeys: staged.skipKeys,
      archive: staged.archive,
    };
  } finally {
    await rm(stagedPath, { force: true });
  }
}

/** The revision of the data dir a restore replaces, which restored keys must be past. */
async function dataDirRevision(
  dataDir: string,
  onNotice: ((message: string) => void) | undefined,
): Promise<number | undefined> {
  const db = path.join(dataDir, "member", "snap", "db");
  try {
    return await readEtcdDatabaseRevision(db);
  } catch (error) {
    onNotice?.(
      `could not read the revision of the data dir being replaced (${(error as Error).message}): restored keys start past the snapshot's revision only`,
    );
    return undefined;
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
