import { VsnapError } from "@vsnap/core";
import { parse } from "yaml";
import { isNotFound, type Kube, kubeError } from "./client.js";
import { configSecretName, type VCluster } from "./find.js";

export interface VClusterConfig {
  /** The vcluster.yaml text the cluster runs with (empty when none was found). */
  readonly yaml: string;
  readonly values: Record<string, unknown>;
  readonly source: "config-secret" | "helm-values" | "none";
}

/**
 * The vcluster.yaml: the `config.yaml` of Secret `vc-config-NAME` (what the syncer reads), or
 * else the Helm release's user values.
 */
export async function readVClusterConfig(
  kube: Kube,
  vc: Pick<VCluster, "name" | "namespace">,
  helmValuesYaml?: string,
): Promise<VClusterConfig> {
  try {
    const secret = await kube.core.readNamespacedSecret({
      name: configSecretName(vc.name),
      namespace: vc.namespace,
    });
    const data = secret.data?.["config.yaml"];
    if (data !== undefined) {
      const yaml = Buffer.from(data, "base64").toString("utf8");
      return {
        yaml,
        values: parseYaml(yaml, `Secret ${vc.namespace}/${configSecretName(vc.name)}`),
        source: "config-secret",
      };
    }
  } catch (error) {
    if (VsnapError.is(error)) throw error;
    if (!isNotFound(error))
      throw kubeError(error, `reading Secret ${vc.namespace}/${configSecretName(vc.name)}`);
  }
  if (helmValuesYaml)
    return {
      yaml: helmValuesYaml,
      values: parseYaml(helmValuesYaml, "the Helm values"),
      source: "helm-values",
    };
  return { yaml: "", values: {}, source: "none" };
}

function parseYaml(text: string, where: string): Record<string, unknown> {
  try {
    const value = parse(text) as unknown;
    return value && typeof value === "object" ? (value as Record<string, unknown>) : {};
  } catch (error) {
    throw new VsnapError("INVALID_ARGUMENT", `${where} is not valid YAML: ${(error as Error).message}`);
  }
}

export interface EtcdTlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** Where a vCluster keeps its data, and how the controller beside it reaches it. */
export type BackingStore =
  | { readonly type: "embedded-sqlite"; readonly file: string }
  | { readonly type: "embedded-etcd"; readonly endpoints: string[]; readonly tls: EtcdTlsFiles }
  | { readonly type: "deployed-etcd"; readonly endpoints: string[]; readonly tls: EtcdTlsFiles }
  | { readonly type: "external-etcd"; readonly endpoints: string[]; readonly tls?: Partial<EtcdTlsFiles> }
  | { readonly type: "external-database"; readonly driver: string; readonly display: string };

/** vCluster's own paths inside its pod (pkg/etcd, constants): the sidecar sees them through /data. */
export const VCLUSTER_DATA_DIR = "/data";
export const DEFAULT_SQLITE_FILE = "/data/state.db";
export const VCLUSTER_ETCD_TLS: EtcdTlsFiles = {
  caFile: "/data/pki/etcd/ca.crt",
  certFile: "/data/pki/apiserver-etcd-client.crt",
  keyFile: "/data/pki/apiserver-etcd-client.key",
};

type Obj = Record<string, unknown>;
const at = (o: unknown, ...path: string[]): unknown => {
  let cur = o;
  for (const p of path) cur = cur && typeof cur === "object" ? (cur as Obj)[p] : undefined;
  return cur;
};
const enabled = (o: unknown, ...path: string[]) => at(o, ...path, "enabled") === true;

/** Reads `controlPlane.backingStore` of a vcluster.yaml (v0.20+ layout); the default is embedded SQLite. */
export function detectBackingStore(
  config: Pick<VClusterConfig, "values">,
  vc: Pick<VCluster, "name" | "namespace">,
): BackingStore {
  const store = at(config.values, "controlPlane", "backingStore") ?? {};
  if (enabled(store, "etcd", "embedded"))
    return { type: "embedded-etcd", endpoints: ["https://127.0.0.1:2379"], tls: VCLUSTER_ETCD_TLS };
  if (enabled(store, "etcd", "deploy"))
    return {
      type: "deployed-etcd",
      endpoints: [`https://${vc.name}-etcd.${vc.namespace}:2379`],
      tls: VCLUSTER_ETCD_TLS,
    };
  if (enabled(store, "etcd", "external")) {
    const endpoint = String(at(store, "etcd", "external", "endpoint") ?? "");
    if (!endpoint)
      throw new VsnapError(
        "INVALID_ARGUMENT",
        `vCluster "${vc.name}" enables an external etcd without an endpoint`,
        {
          hint: "set controlPlane.backingStore.etcd.external.endpoint in its vcluster.yaml",
        },
      );
    const tls = at(store, "etcd", "external", "tls") as Partial<EtcdTlsFiles> | undefined;
    const endpoints = endpoint
      .split(",")
      .map((e) => (/^[a-z]+:\/\//.test(e.trim()) ? e.trim() : `https://${e.trim()}`));
    return { type: "external-etcd", endpoints, ...(tls && Object.keys(tls).length ? { tls } : {}) };
  }
  const external = enabled(store, "database", "external");
  const dataSource = String(at(store, "database", external ? "external" : "embedded", "dataSource") ?? "");
  const connector = String(at(store, "database", "external", "connector") ?? "");
  const driver =
    /^([a-z0-9]+):\/\//i.exec(dataSource)?.[1]?.toLowerCase() ??
    (dataSource.includes("@tcp(") ? "mysql" : "");
  if (external || (driver && driver !== "sqlite" && driver !== "file")) {
    return {
      type: "external-database",
      driver: driver || (connector ? `connector ${connector}` : "database"),
      display: maskDataSource(dataSource) || connector,
    };
  }
  const file = dataSource.replace(/^(sqlite|file):\/\//, "").split("?")[0] || DEFAULT_SQLITE_FILE;
  return { type: "embedded-sqlite", file };
}

/** `mysql://user:pass@host/db` -> `mysql://user:***@host/db` (the data source carries a password). */
export function maskDataSource(dataSource: string): string {
  return dataSource
    .replace(/\/\/([^:/@]*):[^@]*@/, "//$1:***@")
    .replace(/^([^:/]*):[^@/]*@tcp\(/, "$1:***@tcp(");
}

export function describeBackingStore(store: BackingStore): string {
  switch (store.type) {
    case "embedded-sqlite":
      return `embedded SQLite (${store.file})`;
    case "embedded-etcd":
      return "embedded etcd";
    case "deployed-etcd":
      return `deployed etcd (${store.endpoints.join(",")})`;
    case "external-etcd":
      return `external etcd (${store.endpoints.join(",")})`;
    case "external-database":
      return `external database (${store.display || store.driver})`;
  }
}
