import { type ChildProcess, spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { pipeline } from "node:stream/promises";
import { sqliteSource, sqliteTarget } from "@vsnap/backing-sqlite";
import {
  archiveKeyValues,
  type KeyValue,
  type RestoreTarget,
  readArchive,
  VsnapError,
  verifyArchive,
  writeArchive,
} from "@vsnap/core";

type EtcdModule = typeof import("@vsnap/backing-etcd");
// loaded on first use: a SQLite restore never loads the etcd client
const loadEtcd = () => import("@vsnap/backing-etcd") as Promise<EtcdModule>;

export interface EtcdConnection {
  readonly endpoints: string;
  readonly tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** What a restore writes into, and how its old data is kept and put back. */
export interface DataTarget {
  readonly description: string;
  /** Where this restore's backup lives: `<backupDir>/.vsnap-restore-<id>`. */
  readonly backupDir: string;
  /** Saves the data as it is now; a backup this restore already made is kept as it is. */
  backup(log: (s: string) => void): Promise<void>;
  /** Replaces the data with `entries` (kv archive) or, for an etcd data dir, a db archive. */
  restore(
    archive: ArchiveInput,
    log: (s: string) => void,
    signal?: AbortSignal,
  ): Promise<{ keys: number; bytes: number; revision: number }>;
  /** Puts the backup back; returns what it did. Throws when there is no backup to put back. */
  putBack(log: (s: string) => void): Promise<void>;
  /** Removes the backup after a successful restore. */
  dropBackup(): Promise<void>;
  hasBackup(): Promise<boolean>;
  /** The live keys, for a dry run; `close` when done. */
  live(): Promise<{ entries: AsyncIterable<KeyValue>; close(): Promise<void> }>;
}

export interface ArchiveInput {
  readonly mode: "kv" | "db";
  /** Failpoint (crash-safety tests): the process kills itself with SIGKILL after this many keys. */
  readonly crashAfterKeys?: number;
  readonly revision?: number;
  /** A fresh stream of the archive each call. */
  open(): Promise<AsyncIterable<Uint8Array>>;
  /** Keys to leave out (`--new-vcluster`). */
  readonly drop?: (key: string) => boolean;
}

interface Marker {
  readonly id: string;
  readonly createdAt: string;
  /** There was no data to back up (a fresh volume): putting back means removing what was restored. */
  readonly absent: boolean;
  readonly what: string;
}

const MARKER = "backup.json";

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * A restore's backup folder, `<backupParent>/.vsnap-restore-<id>`. Its marker is written last, so a
 * folder without one holds at most a partial backup of an attempt that died.
 */
class BackupFolder {
  readonly dir: string;
  readonly #id: string;
  /** What is backed up, for messages (e.g. `SQLite file x.db`). */
  readonly #subject: string;

  constructor(backupParent: string, id: string, subject: string) {
    this.dir = path.join(backupParent, backupDirName(id));
    this.#id = id;
    this.#subject = subject;
  }

  async marker(): Promise<Marker | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.dir, MARKER), "utf8")) as Marker;
    } catch {
      return undefined;
    }
  }

  async isComplete(): Promise<boolean> {
    return (await this.marker()) !== undefined;
  }

  /** True (and says so) when an earlier attempt of this restore completed the backup. */
  async keptFromEarlier(log: (s: string) => void): Promise<boolean> {
    const marker = await this.marker();
    if (marker)
      log(
        `kept the backup an earlier attempt of restore ${this.#id} made (${marker.what}, ${marker.createdAt}) at ${this.dir}`,
      );
    return marker !== undefined;
  }

  /** Marks the backup complete: the last step of a backup. */
  complete(absent: boolean, what: string): Promise<void> {
    const marker: Marker = { id: this.#id, createdAt: new Date().toISOString(), absent, what };
    return writeDurably(path.join(this.dir, MARKER), JSON.stringify(marker));
  }

  /** The marker of a complete backup, to put back; NOT_FOUND without one. */
  async required(): Promise<Marker> {
    const marker = await this.marker();
    if (!marker)
      throw new VsnapError(
        "NOT_FOUND",
        `there is no complete backup of ${this.#subject} for restore ${this.#id} in ${this.dir}`,
      );
    return marker;
  }

  drop(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true });
  }
}

/** Writes a file durably: a temp file, fsync, rename. */
export async function writeDurably(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp`;
  const handle = await open(temp, "w");
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await open(file, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export const backupDirName = (id: string) => `.vsnap-restore-${id}`;

/** A restore killed mid-way leaves its half-written `<file>.vsnap-restore-*` beside the database. */
async function removeStaleTemps(file: string, log: (s: string) => void): Promise<void> {
  const base = `${path.basename(file)}.vsnap-restore-`;
  const names = await readdir(path.dirname(file)).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith(base))) {
    await rm(path.join(path.dirname(file), name), { force: true });
    log(`removed ${name}, left by an interrupted restore`);
  }
}

/** Backups other restores left beside this one (interrupted ones, which a person may still want). */
export async function otherBackups(parent: string, id: string): Promise<string[]> {
  try {
    return (await readdir(parent))
      .filter((n) => n.startsWith(".vsnap-restore-") && n !== backupDirName(id))
      .map((n) => path.join(parent, n));
  } catch {
    return [];
  }
}

async function* dropping(
  entries: AsyncIterable<KeyValue>,
  drop?: (key: string) => boolean,
  crashAfterKeys?: number,
): AsyncIterable<KeyValue> {
  let n = 0;
  for await (const kv of entries) {
    if (drop?.(kv.key)) continue;
    // a crash in the middle of writing, as an OOM kill or a lost node would cause it
    if (crashAfterKeys !== undefined && n++ === crashAfterKeys) process.kill(process.pid, "SIGKILL");
    yield kv;
  }
}

/** An archive's key/values: kv archives directly, db archives through the bbolt reader. */
async function keyValues(
  archive: ArchiveInput,
  signal?: AbortSignal,
): Promise<{ entries: AsyncIterable<KeyValue>; close(): Promise<void> }> {
  if (archive.mode === "kv")
    return {
      entries: dropping(
        archiveKeyValues(readArchive(await archive.open(), signal ? { signal } : {})),
        archive.drop,
        archive.crashAfterKeys,
      ),
      close: async () => {},
    };
  const { dbArchiveToKeyValues } = await loadEtcd();
  const converted = await dbArchiveToKeyValues(await archive.open(), signal ? { signal } : {});
  return {
    entries: dropping(converted.readPoint.entries(signal), archive.drop, archive.crashAfterKeys),
    close: () => converted.readPoint.close(),
  };
}

/** Streams the archive's key/values into `target` (its revision moved past the archive's). */
async function restoreKeyValues(
  target: RestoreTarget,
  archive: ArchiveInput,
  signal: AbortSignal | undefined,
  onProgress?: (keys: number, bytes: number) => void,
): Promise<{ keys: number; bytes: number; revision: number }> {
  const { entries, close } = await keyValues(archive, signal);
  try {
    const result = await target.restore(entries, {
      ...(archive.revision === undefined ? {} : { revision: archive.revision }),
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    return { keys: result.keys, bytes: result.bytes, revision: result.revision };
  } finally {
    await close();
  }
}

/** vCluster's embedded SQLite (kine): the backup is a consistent copy (`VACUUM INTO`), the restore an atomic swap. */
export function sqliteData(file: string, backupParent: string, id: string): DataTarget {
  const folder = new BackupFolder(backupParent, id, file);
  const dir = folder.dir;
  const copy = path.join(dir, path.basename(file));
  return {
    description: `SQLite ${file}`,
    backupDir: dir,
    hasBackup: () => folder.isComplete(),
    async backup(log) {
      if (await folder.keptFromEarlier(log)) return;
      // an attempt that died while copying left a partial copy: the original was never touched
      await folder.drop();
      await mkdir(dir, { recursive: true });
      if (!(await exists(file))) {
        await folder.complete(true, "no database");
        log(`${file} does not exist yet: nothing to back up`);
        return;
      }
      try {
        // a consistent copy that includes what is still in the WAL
        // read-write: a read-only handle can miss what is still in the WAL
        const db = new DatabaseSync(file);
        try {
          db.exec(`VACUUM INTO '${copy.replace(/'/g, "''")}'`);
        } finally {
          db.close();
        }
      } catch {
        // not an SQLite file vsnap can read: keep its bytes as they are
        await copyFile(file, copy);
      }
      await fsyncFile(copy);
      const size = (await stat(copy)).size;
      await folder.complete(false, `copy of ${path.basename(file)}, ${size} bytes`);
      log(`backed up ${file} to ${copy} (${size} bytes)`);
    },
    async restore(archive, log, signal) {
      await removeStaleTemps(file, log);
      let logged = 0;
      // the target writes beside the file and renames over it only when complete
      return restoreKeyValues(sqliteTarget(file, { force: true }), archive, signal, (keys) => {
        if (keys - logged >= 10_000) {
          logged = keys;
          log(`restored ${keys} keys so far`);
        }
      });
    },
    async putBack(log) {
      const marker = await folder.required();
      await removeStaleTemps(file, log);
      for (const suffix of ["-wal", "-shm", "-journal"]) await rm(file + suffix, { force: true });
      if (marker.absent) {
        await rm(file, { force: true });
        log(`removed the restored ${file} (there was none before)`);
      } else {
        const temp = `${file}.vsnap-rollback`;
        await copyFile(copy, temp);
        await fsyncFile(temp);
        await rename(temp, file);
        log(`put the backup back: ${copy} -> ${file}`);
      }
    },
    dropBackup: () => folder.drop(),
    async live() {
      const point = await sqliteSource(file).open();
      if (point.mode !== "kv") throw new VsnapError("INTERNAL", "the SQLite source gave a db read point");
      return { entries: point.entries(), close: () => point.close() };
    },
  };
}

/** An embedded etcd's data directory: the backup is the directory itself, moved aside. */
export function etcdDataDir(
  dataDir: string,
  backupParent: string,
  id: string,
  member: { name: string; peerUrl: string },
): DataTarget {
  const folder = new BackupFolder(backupParent, id, dataDir);
  const dir = folder.dir;
  const moved = path.join(dir, "etcd");
  return {
    description: `etcd data directory ${dataDir}`,
    backupDir: dir,
    hasBackup: () => folder.isComplete(),
    async backup(log) {
      if (await folder.keptFromEarlier(log)) {
        // what an attempt that died half-way left in the data dir is not worth keeping
        await rm(dataDir, { recursive: true, force: true });
        return;
      }
      await mkdir(dir, { recursive: true });
      // the rename happened but the marker was not written yet: finish that step
      if (!(await exists(moved))) {
        if (await exists(dataDir)) await rename(dataDir, moved);
        else {
          await folder.complete(true, "no data directory");
          log(`${dataDir} does not exist yet: nothing to back up`);
          return;
        }
      }
      await folder.complete(false, `data directory moved from ${dataDir}`);
      log(`moved the old data directory ${dataDir} to ${moved}`);
    },
    async restore(archive, log, signal) {
      const etcd = await loadEtcd();
      if (archive.mode === "db") {
        if (archive.drop)
          log(
            "note: --new-vcluster drops are applied to key/value archives only; this etcd db snapshot keeps its mappings",
          );
        const result = await etcd.restoreEtcdDatabaseFromArchive(await archive.open(), {
          dataDir,
          name: member.name,
          initialAdvertisePeerUrls: member.peerUrl,
          initialClusterToken: "vcluster",
          ...(signal ? { signal } : {}),
          onNotice: log,
        });
        return { keys: 0, bytes: result.bytes, revision: result.revision + result.revisionBump };
      }
      // a key/value archive needs a running etcd: one on the new data dir, on loopback, for the restore only
      const server = await startLocalEtcd(dataDir, member.name);
      try {
        log(`started a temporary etcd on ${dataDir} (member ${member.name})`);
        return await restoreKeyValues(
          etcd.etcdTarget({ endpoints: server.endpoint }, { force: true, onNotice: log }),
          archive,
          signal,
        );
      } finally {
        await server.stop();
      }
    },
    async putBack(log) {
      const marker = await folder.required();
      await rm(dataDir, { recursive: true, force: true });
      if (marker.absent) log(`removed the restored ${dataDir} (there was none before)`);
      else {
        await rename(moved, dataDir);
        log(`moved the old data directory back: ${moved} -> ${dataDir}`);
      }
    },
    dropBackup: () => folder.drop(),
    async live() {
      // etcd holds the file open and writes to it: read a copy
      const temp = await mkdtemp(path.join(os.tmpdir(), "vsnap-live-db-"));
      const copyPath = path.join(temp, "db");
      await copyFile(path.join(dataDir, "member", "snap", "db"), copyPath);
      const { openEtcdDatabase } = await loadEtcd();
      const point = await openEtcdDatabase(copyPath, {
        onClose: () => rm(temp, { recursive: true, force: true }),
      });
      return { entries: point.entries(), close: () => point.close() };
    },
  };
}

/** A deployed or external etcd: the backup is a key/value archive of it, written next to the data. */
export function liveEtcd(connection: EtcdConnection, backupParent: string, id: string): DataTarget {
  const folder = new BackupFolder(backupParent, id, `etcd ${connection.endpoints}`);
  const dir = folder.dir;
  const file = path.join(dir, "etcd.tar.gz");
  const opts = { endpoints: connection.endpoints, ...(connection.tls ? { tls: connection.tls } : {}) };
  return {
    description: `etcd ${connection.endpoints}`,
    backupDir: dir,
    hasBackup: () => folder.isComplete(),
    async backup(log) {
      if (await folder.keptFromEarlier(log)) return;
      await folder.drop();
      await mkdir(dir, { recursive: true });
      const { etcdSource } = await loadEtcd();
      const point = await etcdSource(opts).open();
      try {
        const { stream, done } = writeArchive({ readPoint: point, toolVersion: "restore-backup" });
        done.catch(() => {});
        await pipeline(stream, createWriteStream(file));
        const manifest = await done;
        await fsyncFile(file);
        await folder.complete(false, `${manifest.keys} keys at revision ${manifest.revision}`);
        log(
          `backed up ${manifest.keys} keys of etcd ${connection.endpoints} (revision ${manifest.revision}) to ${file}`,
        );
      } finally {
        await point.close();
      }
    },
    async restore(archive, log, signal) {
      const { etcdTarget } = await loadEtcd();
      return restoreKeyValues(etcdTarget(opts, { force: true, onNotice: log }), archive, signal);
    },
    async putBack(log) {
      await folder.required();
      const summary = await verifyArchive(createReadStream(file));
      const { etcdTarget } = await loadEtcd();
      const result = await etcdTarget(opts, { force: true, onNotice: log }).restore(
        archiveKeyValues(readArchive(createReadStream(file))),
        {
          ...(summary.revision === undefined ? {} : { revision: summary.revision }),
        },
      );
      log(`put the backup back: ${result.keys} keys into etcd ${connection.endpoints}`);
    },
    dropBackup: () => folder.drop(),
    async live() {
      const { etcdSource } = await loadEtcd();
      const point = await etcdSource(opts).open();
      if (point.mode !== "kv") throw new VsnapError("INTERNAL", "the etcd source gave a db read point");
      return { entries: point.entries(), close: () => point.close() };
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** etcd (from PATH, or $VSNAP_ETCD) on loopback on a fresh data dir, for a key/value restore into it. */
async function startLocalEtcd(
  dataDir: string,
  name: string,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  await mkdir(path.dirname(dataDir), { recursive: true });
  const child: ChildProcess = spawn(
    process.env.VSNAP_ETCD ?? "etcd",
    [
      "--name",
      name,
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      endpoint,
      "--advertise-client-urls",
      endpoint,
      "--listen-peer-urls",
      peerUrl,
      "--initial-advertise-peer-urls",
      peerUrl,
      "--initial-cluster",
      `${name}=${peerUrl}`,
      "--initial-cluster-token",
      "vcluster",
      "--log-level",
      "error",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const failedToStart = new Promise<never>((_, reject) =>
    child.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new VsnapError(
          "UNSUPPORTED",
          e.code === "ENOENT"
            ? "restoring a key/value snapshot into an etcd data directory needs the etcd binary, which is not installed"
            : e.message,
          {
            hint: "use an image with etcd, set VSNAP_ETCD, or take etcd db snapshots (--etcd-mode db)",
          },
        ),
      ),
    ),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await Promise.race([
      fetch(`${endpoint}/health`)
        .then((r) => r.ok)
        .catch(() => false),
      failedToStart,
    ]);
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new VsnapError(
        "UNAVAILABLE",
        `the temporary etcd did not start: ${stderr.trim().split("\n").slice(-3).join(" | ")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
