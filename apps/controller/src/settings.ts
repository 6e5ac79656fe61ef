import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { VsnapError } from "@vsnap/core";

/** Everything the controller is told on its command line (or by env in a pod). */
export interface ControllerSettings {
  /** Namespace whose request ConfigMaps it serves (the vCluster's host namespace). */
  readonly namespace: string;
  /** Only this vCluster's requests (sidecar layout); every vCluster's in the namespace otherwise. */
  readonly vcluster?: string;
  readonly kubeconfig?: string;
  readonly context?: string;
  /** Identity written into leases. Unique per process, so a restarted pod never trusts its predecessor's lease. */
  readonly identity: string;
  /** Backing store override; without it the store recorded in the request (detected by the CLI) is used. */
  readonly sqlite?: string;
  readonly etcd?: {
    endpoints: string[];
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    mode: "kv" | "db";
  };
  /** Snapshots of different URLs that may run at once. */
  readonly maxConcurrent: number;
  /** A lease not renewed for this long belongs to a controller that died. */
  readonly leaseDurationMs: number;
  /** Status progress written at most this often. */
  readonly progressIntervalMs: number;
  /** Attempts per request across controller crashes (1 = never retried). */
  readonly maxAttempts: number;
  /** Finished requests are deleted this long after they finish. */
  readonly requestTtlMs: number;
  readonly cleanupIntervalMs: number;
  /** Upload bandwidth cap in bytes/s (0 = none). */
  readonly maxUploadRate: number;
  readonly compressionLevel?: number;
  readonly verbose: boolean;
}

export const USAGE = `usage: vsnap-controller [flags]

Serves vsnap snapshot requests (ConfigMaps labelled vsnap.dev/snapshot-request) in one namespace.

  --namespace NS           namespace to watch (default: $POD_NAMESPACE, the service account's, or the kubeconfig's)
  --vcluster NAME          only requests for this vCluster (default: $VCLUSTER_NAME, else all)
  --kubeconfig FILE        kubeconfig (default: $KUBECONFIG, else in-cluster)
  --context NAME           kubeconfig context
  --sqlite FILE            read this kine SQLite file (sidecar: /data/state.db)
  --etcd-endpoints URLS    read this etcd (comma-separated)
  --etcd-ca/--etcd-cert/--etcd-key FILE   etcd TLS (vCluster: /data/pki/etcd/ca.crt, /data/pki/apiserver-etcd-client.{crt,key})
  --etcd-mode kv|db        key/value archive (default, portable) or etcd's own db snapshot
  --max-concurrent N       snapshots of different URLs at once (default 2)
  --lease-duration DUR     a request whose lease is older belongs to a dead controller (default 30s)
  --progress-interval DUR  status progress at most this often (default 3s)
  --max-attempts N         attempts per request across controller restarts (default 2)
  --request-ttl DUR        delete finished requests after (default 24h)
  --cleanup-interval DUR   how often to look for expired requests (default 1m)
  --max-upload-rate RATE   cap upload bandwidth, e.g. 50MiB, 512KiB (per second; default none)
  --compression-level N    gzip level 1-9 (default 3)
  -v, --verbose            log every reconcile
`;

export function parseSettings(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ControllerSettings | "help" {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      namespace: { type: "string" },
      vcluster: { type: "string" },
      kubeconfig: { type: "string" },
      context: { type: "string" },
      sqlite: { type: "string" },
      "etcd-endpoints": { type: "string" },
      "etcd-ca": { type: "string" },
      "etcd-cert": { type: "string" },
      "etcd-key": { type: "string" },
      "etcd-mode": { type: "string" },
      "max-concurrent": { type: "string" },
      "lease-duration": { type: "string" },
      "progress-interval": { type: "string" },
      "max-attempts": { type: "string" },
      "request-ttl": { type: "string" },
      "cleanup-interval": { type: "string" },
      "max-upload-rate": { type: "string" },
      "compression-level": { type: "string" },
      verbose: { type: "boolean", short: "v" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return "help";
  const namespace = values.namespace ?? env.POD_NAMESPACE ?? serviceAccountNamespace();
  if (!namespace)
    throw new VsnapError("INVALID_ARGUMENT", "no namespace to watch", {
      hint: "pass --namespace or set POD_NAMESPACE (the Downward API)",
    });
  if (values.sqlite && values["etcd-endpoints"])
    throw new VsnapError("INVALID_ARGUMENT", "--sqlite and --etcd-endpoints are exclusive", {
      hint: "give the one backing store the vCluster uses",
    });
  const mode = values["etcd-mode"] ?? "kv";
  if (mode !== "kv" && mode !== "db")
    throw new VsnapError("INVALID_ARGUMENT", `--etcd-mode must be kv or db, got "${mode}"`);
  const vcluster = values.vcluster ?? env.VCLUSTER_NAME;
  const kubeconfig = values.kubeconfig;
  return {
    namespace,
    ...(vcluster ? { vcluster } : {}),
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(values.context ? { context: values.context } : {}),
    identity: `${env.POD_NAME ?? hostname()}/${process.pid}/${Math.random().toString(36).slice(2, 8)}`,
    ...(values.sqlite ? { sqlite: values.sqlite } : {}),
    ...(values["etcd-endpoints"]
      ? {
          etcd: {
            endpoints: values["etcd-endpoints"].split(",").map((e) => e.trim()),
            ...(values["etcd-ca"] ? { caFile: values["etcd-ca"] } : {}),
            ...(values["etcd-cert"] ? { certFile: values["etcd-cert"] } : {}),
            ...(values["etcd-key"] ? { keyFile: values["etcd-key"] } : {}),
            mode,
          },
        }
      : {}),
    maxConcurrent: positiveInt(values["max-concurrent"], 2, "--max-concurrent"),
    leaseDurationMs: duration(values["lease-duration"], 30_000, "--lease-duration"),
    progressIntervalMs: duration(values["progress-interval"], 3_000, "--progress-interval"),
    maxAttempts: positiveInt(values["max-attempts"], 2, "--max-attempts"),
    requestTtlMs: duration(values["request-ttl"], 24 * 3600_000, "--request-ttl"),
    cleanupIntervalMs: duration(values["cleanup-interval"], 60_000, "--cleanup-interval"),
    maxUploadRate: values["max-upload-rate"] ? byteSize(values["max-upload-rate"]) : 0,
    ...(values["compression-level"]
      ? { compressionLevel: positiveInt(values["compression-level"], 3, "--compression-level") }
      : {}),
    verbose: values.verbose === true,
  };
}

function serviceAccountNamespace(): string | undefined {
  try {
    return (
      readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "utf8").trim() || undefined
    );
  } catch {
    return undefined;
  }
}

function positiveInt(raw: string | undefined, fallback: number, flag: string): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new VsnapError("INVALID_ARGUMENT", `${flag} must be a positive integer, got "${raw}"`);
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `5m`, `24h`, `1h30m`. */
export function duration(raw: string | undefined, fallback: number, flag: string): number {
  if (raw === undefined) return fallback;
  const parts = [...raw.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== raw)
    throw new VsnapError("INVALID_ARGUMENT", `${flag} must be a duration like 30s, 5m or 24h, got "${raw}"`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * (UNITS[p[2] ?? "s"] ?? 1000), 0);
}

/** `512KiB`, `50MiB`, `1GiB`, `1000000`. */
export function byteSize(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(raw.trim());
  if (!m)
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `--max-upload-rate must be a size like 512KiB or 50MiB, got "${raw}"`,
    );
  const unit = (m[2] ?? "B").toLowerCase();
  const mult: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: 1024,
    mb: 1e6,
    mib: 1024 ** 2,
    gb: 1e9,
    gib: 1024 ** 3,
  };
  return Math.floor(Number(m[1]) * (mult[unit] ?? 1));
}
