import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { access, constants, type FileHandle, mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { throwIfAborted, VsnapError, writeFully } from "@vsnap/core";
import { readEtcdDatabaseRevision } from "./bbolt/etcd-db.js";
import { checkDbTrailer, type DbCheckResult, TRAILER_SIZE } from "./db-trailer.js";

export interface RestoreEtcdDatabaseOptions {
  /** The db snapshot: a file, or a stream such as an archive's `/vcluster/snapshot/db` entry. */
  readonly db: string | AsyncIterable<Uint8Array>;
  /** The member's data directory to create (etcd's --data-dir). */
  readonly dataDir: string;
  /** Member name, as etcd will be started with (--name). Default `default`. */
  readonly name?: string;
  /** This member's peer URL (--initial-advertise-peer-urls). Default `http://localhost:2380`. */
  readonly initialAdvertisePeerUrls?: string;
  /** Default `<name>=<initialAdvertisePeerUrls>`. */
  readonly initialCluster?: string;
  /** Default `etcd-cluster` (etcd's own default). */
  readonly initialClusterToken?: string;
  /**
   * Revisions to add on restore, and mark them compacted, so Kubernetes clients never see
   * resourceVersions go backwards (vCluster: max(latest - snapshot, 0) + 1000). Needs a tool with
   * `--bump-revision` (etcdutl 3.5.8+/3.6); older tools restore without it and say so. Default 1000.
   */
  readonly revisionBump?: number;
  /** Replace a non-empty data dir; the old one is kept beside it as `<dataDir>.vsnap-backup-<time>`. */
  readonly force?: boolean;
  /** The restore tool, e.g. `/usr/local/bin/etcdutl`. Default: `etcdutl`, else `etcdctl`, from PATH. */
  readonly tool?: string;
  readonly signal?: AbortSignal;
  /** Bytes of the db staged so far. */
  readonly onProgress?: (bytes: number) => void;
  readonly onNotice?: (message: string) => void;
}

export interface RestoreEtcdDatabaseResult {
  readonly dataDir: string;
  /** The snapshot's revision (before any bump). */
  readonly revision: number;
  readonly tool: string;
  /** The db's SHA-256 trailer was present and matched (always checked when present). */
  readonly hashChecked: boolean;
  /** Revisions added by the tool (0 when it cannot bump). */
  readonly revisionBump: number;
  /** Where the replaced data dir was moved (with `force`). */
  readonly backupDir?: string;
  readonly bytes: number;
}

const TOOLS = ["etcdutl", "etcdctl"] as const;
/** vCluster's revision bump on restore (kubernetes#118501). */
export const DEFAULT_REVISION_BUMP = 1000;

/**
 * Restores an etcd db snapshot into a new data directory with etcd's own tool (`etcdutl snapshot
 * restore`, or `etcdctl snapshot restore` on etcd 3.4 which has no etcdutl). The db is staged next
 * to the data dir and its SHA-256 trailer verified on the way, before the tool runs (which is then
 * spared its own second read of it), so a corrupt db changes nothing; the tool restores into a
 * scratch directory that is renamed into place only on success.
 */
export async function restoreEtcdDatabase(
  options: RestoreEtcdDatabaseOptions,
): Promise<RestoreEtcdDatabaseResult> {
  const { dataDir, existing, tool, stagedPath } = await prepare(options);
  try {
    const check = await stageDb(options.db, stagedPath, options.signal, options.onProgress);
    return await restoreStaged(stagedPath, check, { ...options, dataDir }, existing, tool);
  } finally {
    await rm(stagedPath, { force: true });
  }
}

/** Checks the destination and finds the tool before a byte is staged, so misuse fails fast. */
export async function prepare(options: {
  readonly dataDir: string;
  readonly force?: boolean;
  readonly tool?: string;
}): Promise<{ dataDir: string; existing: DataDirState; tool: string; stagedPath: string }> {
  const dataDir = path.resolve(options.dataDir);
  const existing = await dataDirState(dataDir);
  if (existing === "non-empty" && !options.force) {
    throw new VsnapError("FAILED_PRECONDITION", `etcd data dir ${dataDir} exists and is not empty`, {
      hint: "restore into a new directory, or pass --force to move the existing one aside",
    });
  }
  const tool = await findTool(options.tool);
  await mkdir(path.dirname(dataDir), { recursive: true });
  const stagedPath = path.join(path.dirname(dataDir), `.${path.basename(dataDir)}.vsnap-${uniqueTag()}.db`);
  return { dataDir, existing, tool, stagedPath };
}

function uniqueTag(): string {
  return `${Date.now()}-${randomBytes(4).toString("hex")}`;
}

/** What a restore needs to know of a staged db. */
export type StagedDb = Pick<DbCheckResult, "dbSize" | "hasTrailer">;

/** Runs the tool on a staged, already verified db; the data dir appears only when it succeeded. */
export async function restoreStaged(
  staged: string,
  check: StagedDb,
  options: Omit<RestoreEtcdDatabaseOptions, "db"> & {
    /** The db was built from key/values (it has no trailer to check, and no hash to miss). */
    readonly built?: boolean;
  },
  existing: DataDirState,
  tool: string,
): Promise<RestoreEtcdDatabaseResult> {
  const { signal } = options;
  const notice = options.onNotice ?? (() => undefined);
  const dataDir = path.resolve(options.dataDir);
  const tag = uniqueTag();
  const scratch = path.join(path.dirname(dataDir), `.${path.basename(dataDir)}.vsnap-restoring-${tag}`);
  try {
    const revision = await readEtcdDatabaseRevision(staged);
    throwIfAborted(signal, "etcd db restore");
    const name = options.name ?? "default";
    const peerUrls = options.initialAdvertisePeerUrls ?? "http://localhost:2380";
    const args = [
      "snapshot",
      "restore",
      staged,
      `--data-dir=${scratch}`,
      `--name=${name}`,
      `--initial-cluster=${options.initialCluster ?? `${name}=${peerUrls}`}`,
      `--initial-cluster-token=${options.initialClusterToken ?? "etcd-cluster"}`,
      `--initial-advertise-peer-urls=${peerUrls}`,
    ];
    // A trailer was already checked while the db was staged (`stageDb`), so the tool need not read
    // the whole db again to check it (2.4 GiB for 1M keys); without one there is nothing to check.
    args.push("--skip-hash-check");
    if (!check.hasTrailer && !options.built)
      notice("the db has no SHA-256 trailer (copied from a data dir): restoring without etcd's hash check");
    const wantedBump = options.revisionBump ?? DEFAULT_REVISION_BUMP;
    let revisionBump = 0;
    if (wantedBump > 0) {
      if (await supportsBump(tool, signal)) {
        args.push(`--bump-revision=${wantedBump}`, "--mark-compacted");
        revisionBump = wantedBump;
      } else {
        notice(
          `${path.basename(tool)} cannot bump the revision (needs etcdutl 3.5.8+): the restored etcd starts at the snapshot's revision ${revision}; Kubernetes clients that cached newer resourceVersions must re-list`,
        );
      }
    }
    await run(tool, args, signal);

    let backupDir: string | undefined;
    if (existing === "non-empty") {
      backupDir = `${dataDir}.vsnap-backup-${tag}`;
      await rename(dataDir, backupDir);
      notice(`--force: moved the existing data dir ${dataDir} to ${backupDir}`);
    } else if (existing === "empty") {
      await rm(dataDir, { recursive: true });
    }
    await rename(scratch, dataDir);
    return {
      dataDir,
      revision,
      tool,
      hashChecked: check.hasTrailer,
      revisionBump,
      bytes: check.dbSize + (check.hasTrailer ? TRAILER_SIZE : 0),
      ...(backupDir ? { backupDir } : {}),
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export type DataDirState = "missing" | "empty" | "non-empty";

async function dataDirState(dir: string): Promise<DataDirState> {
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) {
      throw new VsnapError("FAILED_PRECONDITION", `etcd data dir ${dir} exists and is not a directory`);
    }
    return (await readdir(dir)).length === 0 ? "empty" : "non-empty";
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return "missing";
    throw error;
  }
}

/**
 * Copies the db to `file`, verifying its SHA-256 trailer on the way; a mismatch removes the copy.
 * Each chunk is written before the next is read, so a stream that asks for that (an archive
 * entry's `stream({ transient: true })`) may free each chunk once it is written.
 */
export async function stageDb(
  db: string | AsyncIterable<Uint8Array>,
  file: string,
  signal: AbortSignal | undefined,
  onProgress: ((bytes: number) => void) | undefined,
): Promise<DbCheckResult> {
  let result: DbCheckResult | undefined;
  let bytes = 0;
  const source = typeof db === "string" ? createReadStream(db, { signal }) : db;
  const checked = checkDbTrailer(source, {
    onResult: (r) => {
      result = r;
    },
    what: typeof db === "string" ? `etcd db ${db}` : "etcd db",
  });
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, "w", 0o600);
    for await (const chunk of checked) {
      throwIfAborted(signal, "staging the etcd db");
      await writeFully(handle, chunk);
      bytes += chunk.length;
      onProgress?.(bytes);
    }
    await handle.close();
    handle = undefined;
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(file, { force: true });
    if ((error as { code?: string }).code === "ENOENT" && typeof db === "string") {
      throw new VsnapError("NOT_FOUND", `etcd db file ${db} does not exist`);
    }
    throw VsnapError.wrap(error, "INTERNAL", "staging the etcd db");
  }
  return result!;
}

async function findTool(explicit: string | undefined): Promise<string> {
  if (explicit) {
    try {
      await access(explicit, constants.X_OK);
      return explicit;
    } catch {
      throw new VsnapError("NOT_FOUND", `etcd restore tool ${explicit} is not an executable file`);
    }
  }
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  for (const name of TOOLS) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      try {
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {
        // keep looking
      }
    }
  }
  throw new VsnapError(
    "UNSUPPORTED",
    "restoring an etcd db snapshot into a data dir needs etcdutl or etcdctl on PATH",
    {
      hint: "install etcd's tools (Debian: apt-get install etcd-client), or restore into a running etcd or SQLite instead (the db is converted to key/values)",
    },
  );
}

async function supportsBump(tool: string, signal: AbortSignal | undefined): Promise<boolean> {
  const { stdout, stderr } = await run(tool, ["snapshot", "restore", "--help"], signal, true);
  return /--bump-revision/.test(stdout + stderr);
}

function run(
  tool: string,
  args: readonly string[],
  signal: AbortSignal | undefined,
  allowFailure = false,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ETCDCTL_API: "3" },
      ...(signal ? { signal } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout = (stdout + d.toString()).slice(-20_000);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20_000);
    });
    child.on("error", (error) => {
      if (signal?.aborted) reject(new VsnapError("ABORTED", "etcd db restore aborted", { cause: error }));
      else reject(new VsnapError("INTERNAL", `could not run ${tool}: ${error.message}`, { cause: error }));
    });
    child.on("close", (code) => {
      if (code === 0 || allowFailure) resolve({ stdout, stderr });
      else {
        const tail = stderr.trim().split("\n").slice(-5).join("\n");
        reject(
          new VsnapError(
            "INTERNAL",
            `${path.basename(tool)} ${args.slice(0, 2).join(" ")} failed (exit ${code}): ${tail}`,
            {
              hint: "see the tool's message above; the data dir was left unchanged",
            },
          ),
        );
      }
    });
  });
}
