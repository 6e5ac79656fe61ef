import { writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { type ArchiveSummary, type ParsedLocation, VsnapError, verifySnapshot } from "@vsnap/core";
import {
  compactDiff,
  diffKeyValues,
  encodeResult,
  isCloneDropped,
  type RestoreDataResult,
} from "@vsnap/kube";
import { type CommandContext, stringOption } from "../command.js";
import {
  type ArchiveInput,
  type DataTarget,
  etcdDataDir,
  liveEtcd,
  otherBackups,
  sqliteData,
  writeDurably,
} from "./targets.js";

/** Beside the data: which restore wrote it (also how a rollback tells "finished" from "never started"). */
export const LAST_RESTORE_FILE = ".vsnap-last-restore.json";

/**
 * `vsnap restore-data`: what runs inside the restore Job, with the vCluster's data volume mounted
 * (and runnable by hand on a node or in a debug pod). Restore: verify the archive (and that it is
 * the one the CLI verified), back up the old data (a backup of this restore id is never
 * overwritten), restore, and on failure put the old data back before exiting. The outcome goes to
 * --result-file (the termination message) as JSON for the CLI.
 */
export async function restoreData(ctx: CommandContext): Promise<number> {
  const { options, out, env, signal } = ctx;
  const steps: string[] = [];
  const log = (s: string) => {
    steps.push(s);
    out.print(s);
  };
  const id = stringOption(options, "id");
  if (!id || !/^[a-z0-9-]{1,40}$/.test(id))
    throw new VsnapError(
      "INVALID_ARGUMENT",
      "--id is required: the restore's id (lower-case letters, digits, '-'), which names its backup",
    );
  const target = dataTargetOf(ctx, id);
  const action = options.rollback === true ? "rollback" : options["dry-run"] === true ? "dry-run" : "restore";
  const resultFile = stringOption(options, "result-file");
  const finish = (result: Omit<RestoreDataResult, "v" | "steps" | "action">): number => {
    const full: RestoreDataResult = { v: 1, action, steps, ...result };
    if (resultFile) {
      try {
        writeFileSync(resultFile, encodeResult(full));
      } catch (error) {
        out.warn(`cannot write ${resultFile}: ${(error as Error).message}`);
      }
    }
    return full.ok ? 0 : 1;
  };
  const others = await otherBackups(path.dirname(target.backupDir), id);
  if (others.length) log(`note: backups of other restores are kept beside the data: ${others.join(", ")}`);
  const extra = others.length ? { otherBackups: others } : {};

  const lastFile = path.join(path.dirname(target.backupDir), LAST_RESTORE_FILE);
  const last = await readFile(lastFile, "utf8")
    .then((t) => JSON.parse(t) as { id?: string; finishedAt?: string })
    .catch(() => undefined);
  if (action === "rollback") {
    if (!(await target.hasBackup())) {
      if (last?.id === id) {
        // the pod died after the restore had finished (and dropped its backup): nothing to undo
        log(
          `restore ${id} had completed (${last.finishedAt}) before its pod stopped: the restored data is in place`,
        );
        return finish({ ok: true, restoreCompleted: true, oldDataInPlace: false, ...extra });
      }
      // the restore died before its backup was complete; nothing was replaced until then
      log(`no complete backup of restore ${id} in ${target.backupDir}: the old data was never replaced`);
      return finish({ ok: true, oldDataInPlace: true, ...extra });
    }
    try {
      await target.putBack(log);
      if (last?.id === id) await rm(lastFile, { force: true });
      await target.dropBackup();
      log(`removed ${target.backupDir}`);
      return finish({ ok: true, oldDataInPlace: true, backup: target.backupDir, ...extra });
    } catch (error) {
      const message = VsnapError.wrap(error, "INTERNAL").message;
      log(`putting the old data back failed: ${message}`);
      return finish({
        ok: false,
        error: message,
        oldDataInPlace: false,
        backup: target.backupDir,
        backupKept: true,
        ...extra,
      });
    }
  }

  const url = ctx.args[0];
  if (!url) throw new VsnapError("INVALID_ARGUMENT", "the snapshot URL is required");
  const registry = ctx.registry();
  const location = await locationWithOptions(ctx, url);
  const { store } = await registry.open(location, { env });
  try {
    let summary: ArchiveSummary;
    try {
      summary = await verifySnapshot({ store, key: location.key, signal });
    } catch (error) {
      const message = VsnapError.wrap(error, "INTERNAL").message;
      log(`the archive failed verification: ${message}`);
      return finish({ ok: false, error: message, oldDataInPlace: true, ...extra });
    }
    const expected = stringOption(options, "expect-sha256");
    if (expected && expected !== summary.sha256) {
      const message = `${location.display} changed after it was verified (sha256 ${summary.sha256.slice(0, 12)}…, expected ${expected.slice(0, 12)}…)`;
      log(message);
      return finish({ ok: false, error: message, oldDataInPlace: true, ...extra });
    }
    log(
      `verified ${location.display}: ${summary.mode === "db" ? "etcd db snapshot" : `${summary.keys} keys`}, sha256 ${summary.sha256.slice(0, 12)}…`,
    );
    const archive: ArchiveInput = {
      mode: summary.mode,
      ...(summary.revision === undefined ? {} : { revision: summary.revision }),
      open: async () => (await store.get(location.key, signal ? { signal } : {})).body,
      ...(options["new-vcluster"] === true ? { drop: isCloneDropped } : {}),
      ...failpoint(env.VSNAP_FAILPOINT),
    };

    if (action === "dry-run") {
      const live = await target.live();
      try {
        const archiveSide = await archiveEntries(archive, signal);
        try {
          const diff = await diffKeyValues(
            live.entries,
            archiveSide.entries,
            archive.drop ? { drop: archive.drop } : {},
          );
          log(
            `compared ${diff.liveKeys} live keys with ${diff.archiveKeys} archived keys: +${diff.totals.added} -${diff.totals.removed} ~${diff.totals.changed}`,
          );
          return finish({ ok: true, diff: compactDiff(diff), ...extra });
        } finally {
          await archiveSide.close();
        }
      } finally {
        await live.close();
      }
    }

    await target.backup(log);
    try {
      log(`restoring into ${target.description}`);
      const restored = await target.restore(archive, log, signal);
      log(`restored ${restored.keys} keys (${restored.bytes} bytes); revision ${restored.revision}`);
      // recorded before the backup goes: a rollback after this point knows the restore finished
      await writeDurably(
        lastFile,
        JSON.stringify({
          id,
          url: location.display,
          sha256: summary.sha256,
          finishedAt: new Date().toISOString(),
          ...restored,
        }),
      );
      if (options["keep-backup"] === true) {
        log(`the backup of the old data is kept at ${target.backupDir}`);
        return finish({ ok: true, restored, backup: target.backupDir, backupKept: true, ...extra });
      }
      await target.dropBackup();
      log(`removed the backup ${target.backupDir}`);
      return finish({ ok: true, restored, backup: target.backupDir, ...extra });
    } catch (error) {
      const message = VsnapError.wrap(error, "INTERNAL").message;
      log(`restore failed: ${message}`);
      try {
        await target.putBack(log);
        await target.dropBackup();
        return finish({
          ok: false,
          error: message,
          oldDataInPlace: true,
          backup: target.backupDir,
          ...extra,
        });
      } catch (rollbackError) {
        const why = VsnapError.wrap(rollbackError, "INTERNAL").message;
        log(`putting the old data back failed: ${why}; the backup is kept at ${target.backupDir}`);
        return finish({
          ok: false,
          error: `${message}; putting the old data back failed: ${why}`,
          oldDataInPlace: false,
          backup: target.backupDir,
          backupKept: true,
          ...extra,
        });
      }
    }
  } finally {
    await store.close();
  }
}

/** `VSNAP_FAILPOINT=crash-after-keys:N`: crash-safety tests make the process die mid-restore. */
function failpoint(raw: string | undefined): { crashAfterKeys?: number } {
  const m = /^crash-after-keys:(\d+)$/.exec(raw ?? "");
  return m ? { crashAfterKeys: Number(m[1]) } : {};
}

function dataTargetOf(ctx: CommandContext, id: string): DataTarget {
  const { options, cwd } = ctx;
  const sqlite = stringOption(options, "sqlite");
  const dataDir = stringOption(options, "etcd-data-dir");
  const endpoints = stringOption(options, "etcd-endpoints");
  const given = [sqlite, dataDir, endpoints].filter(Boolean).length;
  if (given !== 1)
    throw new VsnapError(
      "INVALID_ARGUMENT",
      "give exactly one of --sqlite FILE, --etcd-data-dir DIR, --etcd-endpoints URLS",
      {
        hint: "the backing store of the vCluster whose data volume is mounted here",
      },
    );
  const backupDir = stringOption(options, "backup-dir");
  if (sqlite) {
    const file = path.resolve(cwd, sqlite);
    return sqliteData(file, backupDir ? path.resolve(cwd, backupDir) : path.dirname(file), id);
  }
  if (dataDir) {
    const dir = path.resolve(cwd, dataDir);
    return etcdDataDir(dir, backupDir ? path.resolve(cwd, backupDir) : path.dirname(dir), id, {
      name: stringOption(options, "etcd-name") ?? "default",
      peerUrl: stringOption(options, "etcd-peer-url") ?? "http://localhost:2380",
    });
  }
  if (!backupDir)
    throw new VsnapError(
      "INVALID_ARGUMENT",
      "--backup-dir is required with --etcd-endpoints: where the copy of the current etcd data is kept until the restore succeeded",
    );
  const ca = stringOption(options, "etcd-ca");
  const cert = stringOption(options, "etcd-cert");
  const key = stringOption(options, "etcd-key");
  const tls =
    ca || cert || key
      ? {
          ...(ca ? { caFile: ca } : {}),
          ...(cert ? { certFile: cert } : {}),
          ...(key ? { keyFile: key } : {}),
        }
      : undefined;
  return liveEtcd({ endpoints: endpoints ?? "", ...(tls ? { tls } : {}) }, path.resolve(cwd, backupDir), id);
}

/** The URL as given (paths as mounted here), with credentials from the Secret the Job got (--options-env). */
async function locationWithOptions(ctx: CommandContext, url: string): Promise<ParsedLocation> {
  const registry = ctx.registry();
  const location = await registry.parse(url);
  const envName = stringOption(ctx.options, "options-env");
  const raw = envName ? ctx.env[envName] : undefined;
  if (!raw) return location;
  let parsed: { plugin?: string; options?: Record<string, unknown> };
  try {
    parsed = JSON.parse(raw) as typeof parsed;
  } catch {
    throw new VsnapError("INVALID_ARGUMENT", `$${envName} is not valid JSON`);
  }
  const plugin = await registry.plugin(location.scheme);
  if (parsed.plugin && parsed.plugin !== plugin.name)
    throw new VsnapError(
      "PLUGIN",
      `the restore was prepared with store plugin "${parsed.plugin}" but this image serves ${location.scheme}:// with "${plugin.name}"`,
    );
  // only plugins that carry credentials rebuild options; the others take everything from the URL
  return plugin.fromRequestOptions && parsed.options
    ? { ...location, options: plugin.fromRequestOptions(parsed.options) }
    : location;
}

async function archiveEntries(archive: ArchiveInput, signal?: AbortSignal) {
  const { archiveKeyValues, readArchive } = await import("@vsnap/core");
  if (archive.mode === "kv")
    return {
      entries: archiveKeyValues(readArchive(await archive.open(), signal ? { signal } : {})),
      close: async () => {},
    };
  const { dbArchiveToKeyValues } = await import("@vsnap/backing-etcd");
  const converted = await dbArchiveToKeyValues(await archive.open(), signal ? { signal } : {});
  return { entries: converted.readPoint.entries(signal), close: () => converted.readPoint.close() };
}
