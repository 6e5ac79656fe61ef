import { readFileSync } from "node:fs";
import { type SnapshotSource, VsnapError } from "@vsnap/core";
import { type BackingStore, describeBackingStore } from "@vsnap/kube";
import type { ControllerSettings } from "./settings.js";

interface EtcdModule {
  etcdSource(options: {
    endpoints: string | readonly string[];
    tls?: { caFile?: string; certFile?: string; keyFile?: string };
    mode?: "kv" | "db";
  }): SnapshotSource;
}
interface SqliteModule {
  sqliteSource(file: string): SnapshotSource;
}

// Loaded on first use: a controller beside an etcd never loads the SQLite native module.
const loadEtcd = () => import("@vsnap/backing-etcd") as Promise<unknown> as Promise<EtcdModule>;
const SQLITE_PACKAGE = "@vsnap/backing-sqlite";
const loadSqlite = () => import(SQLITE_PACKAGE) as Promise<SqliteModule>;

/**
 * The snapshot source: the controller's own flags win (they describe what is mounted beside it);
 * otherwise the backing store the CLI detected from the vcluster.yaml, at vCluster's standard paths.
 */
export async function backingSource(
  settings: ControllerSettings,
  recorded: BackingStore | undefined,
): Promise<SnapshotSource> {
  if (settings.sqlite) return (await loadSqlite()).sqliteSource(settings.sqlite);
  if (settings.etcd) {
    const { endpoints, caFile, certFile, keyFile, mode } = settings.etcd;
    const tls =
      caFile || certFile || keyFile
        ? {
            ...(caFile ? { caFile } : {}),
            ...(certFile ? { certFile } : {}),
            ...(keyFile ? { keyFile } : {}),
          }
        : undefined;
    return (await loadEtcd()).etcdSource({ endpoints, ...(tls ? { tls } : {}), mode });
  }
  if (!recorded)
    throw new VsnapError(
      "FAILED_PRECONDITION",
      "the request does not say which backing store to read and the controller has no --sqlite/--etcd-endpoints",
      {
        hint: "start the controller with --sqlite FILE or --etcd-endpoints URL",
      },
    );
  switch (recorded.type) {
    case "embedded-sqlite":
      return (await loadSqlite()).sqliteSource(recorded.file);
    case "embedded-etcd":
    case "deployed-etcd":
    case "external-etcd": {
      const tls = recorded.tls ? existingTls(recorded.tls) : undefined;
      return (await loadEtcd()).etcdSource({ endpoints: recorded.endpoints, ...(tls ? { tls } : {}) });
    }
    case "external-database":
      throw new VsnapError(
        "UNSUPPORTED",
        `the vCluster keeps its data in an ${describeBackingStore(recorded)}: back up the database itself; vsnap cannot`,
      );
  }
}

function existingTls(tls: { caFile?: string; certFile?: string; keyFile?: string }) {
  for (const file of [tls.caFile, tls.certFile, tls.keyFile]) {
    if (!file) continue;
    try {
      readFileSync(file);
    } catch {
      throw new VsnapError("FAILED_PRECONDITION", `etcd TLS file ${file} is not readable in the controller`, {
        hint: "mount the vCluster's /data (sidecar) or its certificates Secret, or pass --etcd-ca/--etcd-cert/--etcd-key",
      });
    }
  }
  return tls;
}
