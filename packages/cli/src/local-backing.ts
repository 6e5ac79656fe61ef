import path from "node:path";
import {
  dbArchiveToKeyValues,
  type EtcdConnectionOptions,
  etcdSource,
  etcdTarget,
} from "@vsnap/backing-etcd";
import { sqliteSource, sqliteTarget } from "@vsnap/backing-sqlite";
import { type KeyValueReadPoint, type RestoreTarget, type SnapshotSource, VsnapError } from "@vsnap/core";
import { type OptionSpec, type OptionValues, stringOption } from "./command.js";

/** Flags that select a local backing store (no cluster): the embedded SQLite file or an etcd. */
export const LOCAL_BACKING_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  sqlite: {
    type: "string",
    valueName: "FILE",
    description: "a kine-schema SQLite backing store (vCluster's embedded default)",
  },
  etcd: {
    type: "string",
    valueName: "ENDPOINTS",
    description: "etcd client endpoints, comma-separated (https://127.0.0.1:2379)",
  },
  "etcd-cacert": {
    type: "string",
    valueName: "FILE",
    description: "CA bundle of the etcd server (vCluster: /data/pki/etcd/ca.crt)",
  },
  "etcd-cert": {
    type: "string",
    valueName: "FILE",
    description: "etcd client certificate (vCluster: /data/pki/apiserver-etcd-client.crt)",
  },
  "etcd-key": {
    type: "string",
    valueName: "FILE",
    description: "etcd client key (vCluster: /data/pki/apiserver-etcd-client.key)",
  },
};

export const ETCD_SNAPSHOT_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "etcd-mode": {
    type: "string",
    valueName: "kv|db",
    description: "kv: every key at one revision (default, restores anywhere); db: etcd's own snapshot",
  },
};

export const ETCD_RESTORE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "etcd-data-dir": {
    type: "string",
    valueName: "DIR",
    description: "restore a db-mode archive into a new etcd data directory (etcdctl/etcdutl)",
  },
  "etcd-name": {
    type: "string",
    valueName: "NAME",
    description: "member name for --etcd-data-dir (default: default)",
  },
  "etcd-initial-cluster": {
    type: "string",
    valueName: "SPEC",
    description: "initial cluster for --etcd-data-dir, e.g. vc-0=https://vc-0.vc-headless:2380",
  },
  "etcd-initial-advertise-peer-urls": {
    type: "string",
    valueName: "URLS",
    description: "peer URLs for --etcd-data-dir",
  },
};

export function usesLocalBacking(options: OptionValues): boolean {
  return ["sqlite", "etcd", "etcd-data-dir"].some((name) => options[name] !== undefined);
}

export function localSource(options: OptionValues, cwd: string): SnapshotSource {
  const sqlite = stringOption(options, "sqlite");
  const etcd = etcdConnection(options, cwd);
  if (sqlite && etcd)
    throw new VsnapError("INVALID_ARGUMENT", "give one backing store: --sqlite or --etcd, not both");
  const mode = stringOption(options, "etcd-mode");
  if (mode !== undefined && !etcd)
    throw new VsnapError("INVALID_ARGUMENT", "--etcd-mode applies to --etcd snapshots only");
  if (sqlite) return sqliteSource(path.resolve(cwd, sqlite));
  if (etcd) {
    if (mode !== undefined && mode !== "kv" && mode !== "db") {
      throw new VsnapError("INVALID_ARGUMENT", `--etcd-mode must be kv or db, got "${mode}"`);
    }
    return etcdSource({ ...etcd, mode: (mode ?? "kv") as "kv" | "db" });
  }
  throw missingBacking();
}

export function localTarget(
  options: OptionValues,
  cwd: string,
  notice: (message: string) => void,
): RestoreTarget {
  const sqlite = stringOption(options, "sqlite");
  const etcd = etcdConnection(options, cwd);
  if (sqlite && etcd)
    throw new VsnapError("INVALID_ARGUMENT", "give one restore target: --sqlite or --etcd, not both");
  const force = options.force === true;
  if (sqlite) return sqliteTarget(path.resolve(cwd, sqlite), { force });
  if (etcd) return etcdTarget(etcd, { force, onNotice: notice });
  throw missingBacking();
}

/** Converts an etcd db-mode archive into key/values by reading etcd's bbolt file directly. */
export async function convertDbArchive(
  archive: AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
): Promise<KeyValueReadPoint> {
  const { readPoint } = await dbArchiveToKeyValues(archive, signal ? { signal } : {});
  return readPoint;
}

function etcdConnection(options: OptionValues, cwd: string): EtcdConnectionOptions | undefined {
  const endpoints = stringOption(options, "etcd");
  const file = (name: string) => {
    const value = stringOption(options, name);
    return value === undefined ? undefined : path.resolve(cwd, value);
  };
  const [caFile, certFile, keyFile] = [file("etcd-cacert"), file("etcd-cert"), file("etcd-key")];
  if (!endpoints) {
    if (caFile || certFile || keyFile)
      throw new VsnapError("INVALID_ARGUMENT", "--etcd-cacert/--etcd-cert/--etcd-key need --etcd ENDPOINTS");
    return undefined;
  }
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new VsnapError("INVALID_ARGUMENT", "--etcd-cert and --etcd-key go together", {
      hint: "give both, or neither",
    });
  }
  const tls =
    caFile || certFile
      ? { ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) }
      : undefined;
  return { endpoints, ...(tls ? { tls } : {}) };
}

function missingBacking(): VsnapError {
  return new VsnapError("INVALID_ARGUMENT", "no backing store given", {
    hint: "pass --sqlite FILE or --etcd ENDPOINTS (local mode), or a vCluster NAME before the URL (cluster mode)",
  });
}
