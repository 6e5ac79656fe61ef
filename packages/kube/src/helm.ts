import { gunzipSync } from "node:zlib";
import type * as k8s from "@kubernetes/client-node";
import type { HelmRelease } from "@vsnap/core";
import { VsnapError } from "@vsnap/core";
import { stringify } from "yaml";
import { type Kube, kubeError } from "./client.js";

/** The parts of a Helm release (the `release` field of its storage Secret) vsnap reads. */
export interface HelmReleaseRecord {
  readonly name: string;
  readonly namespace: string;
  readonly version: number;
  readonly info?: { readonly status?: string };
  readonly chart?: { readonly metadata?: { readonly name?: string; readonly version?: string } };
  /** The user-supplied values (not merged with the chart's defaults). */
  readonly config?: Record<string, unknown>;
}

export interface VClusterRelease {
  /** What goes into the archive (vCluster's `HelmRelease`: values = base64 of the values YAML). */
  readonly release: HelmRelease;
  /** The user values as YAML. */
  readonly valuesYaml: string;
  readonly record: HelmReleaseRecord;
  /** Where the release Secret was found. */
  readonly secretNamespace: string;
}

/** Decodes Helm 3's storage format: base64 of gzip of the release JSON (the Secret adds a base64 layer). */
export function decodeHelmRelease(data: string): HelmReleaseRecord {
  const raw = Buffer.from(data, "base64");
  const inner = raw[0] === 0x1f && raw[1] === 0x8b ? raw : Buffer.from(raw.toString("utf8"), "base64");
  const json = inner[0] === 0x1f && inner[1] === 0x8b ? gunzipSync(inner) : inner;
  return JSON.parse(json.toString("utf8")) as HelmReleaseRecord;
}

const SKIPPED = new Set(["superseded", "uninstalled"]);

/**
 * The vCluster's Helm release, from the release Secrets labelled `owner=helm,name=NAME`: the highest
 * revision that is neither superseded nor uninstalled. `releaseNamespace` is where Helm stores it
 * (Flux's `storageNamespace`, vcluster#3061); it defaults to the vCluster's namespace.
 */
export async function getHelmRelease(
  kube: Kube,
  name: string,
  namespace: string,
  releaseNamespace = namespace,
): Promise<VClusterRelease> {
  let secrets: k8s.V1Secret[];
  try {
    secrets = (
      await kube.core.listNamespacedSecret({
        namespace: releaseNamespace,
        labelSelector: `owner=helm,name=${name}`,
      })
    ).items;
  } catch (error) {
    throw kubeError(
      error,
      `reading the Helm release of vCluster "${name}" in namespace "${releaseNamespace}"`,
    );
  }
  const candidates = secrets
    .filter((s) => !SKIPPED.has(s.metadata?.labels?.status ?? ""))
    .map((s) => ({ secret: s, version: Number(s.metadata?.labels?.version ?? 0) }))
    .sort((a, b) => b.version - a.version);
  const best = candidates[0];
  if (!best?.secret.data?.release) {
    throw new VsnapError("NOT_FOUND", `no Helm release "${name}" found in namespace "${releaseNamespace}"`, {
      hint:
        releaseNamespace === namespace
          ? "if Helm stores the release elsewhere (Flux's storageNamespace), pass --release-namespace NS"
          : "check --release-namespace: it must be where Helm keeps the release Secrets (sh.helm.release.v1.NAME.vN)",
    });
  }
  let record: HelmReleaseRecord;
  try {
    record = decodeHelmRelease(best.secret.data.release);
  } catch (error) {
    throw new VsnapError(
      "INTEGRITY",
      `the Helm release Secret ${best.secret.metadata?.name} cannot be decoded: ${(error as Error).message}`,
    );
  }
  const valuesYaml = record.config && Object.keys(record.config).length > 0 ? stringify(record.config) : "";
  return {
    release: {
      releaseName: record.name ?? name,
      releaseNamespace: record.namespace ?? namespace,
      chartName: record.chart?.metadata?.name ?? "",
      chartVersion: record.chart?.metadata?.version ?? "",
      ...(valuesYaml ? { values: Buffer.from(valuesYaml).toString("base64") } : {}),
    },
    valuesYaml,
    record,
    secretNamespace: releaseNamespace,
  };
}
