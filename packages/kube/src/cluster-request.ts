import { type PluginRegistry, VsnapError } from "@vsnap/core";
import type { Kube } from "./client.js";
import { type BackingStore, detectBackingStore, readVClusterConfig } from "./config.js";
import { findVCluster, type VCluster } from "./find.js";
import { assertRunning, assertSnapshottableStore } from "./guards.js";
import { getHelmRelease, type VClusterRelease } from "./helm.js";
import { createRequest, type RequestOptions, type StoredRequest } from "./requests.js";

export interface ClusterRequestInput {
  /** The vCluster's name. */
  readonly name: string;
  /** Its namespace (`-n`); searched across namespaces when omitted. */
  readonly namespace?: string;
  /** The snapshot URL, with any flag-given options already folded in. */
  readonly url: string;
  readonly registry: PluginRegistry;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface SnapshotRequestInput extends ClusterRequestInput {
  readonly includeVolumes?: boolean;
  /** Where Helm keeps the release Secrets (Flux storageNamespace); default the vCluster's namespace. */
  readonly releaseNamespace?: string;
}

export interface ClusterRequestResult {
  readonly vcluster: VCluster;
  readonly request: StoredRequest;
  readonly backingStore?: BackingStore;
  /** Things the user should know that did not stop the request. */
  readonly warnings: readonly string[];
}

/**
 * `vsnap snapshot create NAME URL` in cluster mode: checks the vCluster is running and its data is
 * somewhere vsnap can read, gathers the Helm release and vcluster.yaml, and writes the request
 * (URL without credentials in a ConfigMap, store options with credentials in a Secret).
 */
export async function requestSnapshot(
  kube: Kube,
  input: SnapshotRequestInput,
): Promise<ClusterRequestResult> {
  const vcluster = await findVCluster(
    kube,
    input.name,
    input.namespace ? { namespace: input.namespace } : {},
  );
  // before the URL is even parsed, as vCluster does: a stopped cluster is the first thing to fix
  assertRunning(vcluster);
  const warnings: string[] = [];
  let release: VClusterRelease | undefined;
  try {
    release = await getHelmRelease(kube, vcluster.name, vcluster.namespace, input.releaseNamespace);
  } catch (error) {
    if (!VsnapError.is(error, "NOT_FOUND")) throw error;
    // vCluster fails here (vcluster#3061); the data is still worth saving, so say what is missing
    warnings.push(`${error.message}: the snapshot will not record the Helm release (${error.hint ?? ""})`);
  }
  const config = await readVClusterConfig(kube, vcluster, release?.valuesYaml);
  const backingStore = detectBackingStore(config, vcluster);
  assertSnapshottableStore(vcluster, backingStore);
  const { location, options } = await locate(input);
  const requestOptions: RequestOptions = {
    ...options,
    ...(release ? { release: release.release } : {}),
    ...(config.yaml ? { vclusterConfig: config.yaml } : {}),
    backingStore,
  };
  const request = await createRequest(kube, {
    vcluster: { name: vcluster.name, namespace: vcluster.namespace },
    location,
    options: requestOptions,
    ...(input.includeVolumes ? { includeVolumes: true } : {}),
  });
  return { vcluster, request, backingStore, warnings };
}

/** `vsnap snapshot delete NAME URL`: a delete request, carried out by the controller. */
export async function requestDeletion(kube: Kube, input: ClusterRequestInput): Promise<ClusterRequestResult> {
  const vcluster = await findVCluster(
    kube,
    input.name,
    input.namespace ? { namespace: input.namespace } : {},
  );
  const warnings: string[] = [];
  if (vcluster.status !== "Running")
    warnings.push(
      `vCluster "${vcluster.name}" is ${vcluster.status}: its controller deletes the snapshot once it runs again`,
    );
  const { location, options } = await locate(input);
  const request = await createRequest(kube, {
    vcluster: { name: vcluster.name, namespace: vcluster.namespace },
    location,
    options,
    operation: "delete",
  });
  return { vcluster, request, warnings };
}

/** Parses the URL with its plugin and turns its options into what may travel to the cluster. */
async function locate(input: ClusterRequestInput) {
  const location = await input.registry.parse(input.url);
  const plugin = await input.registry.plugin(location.scheme);
  const options = plugin.toRequestOptions
    ? await plugin.toRequestOptions(location, { env: input.env })
    : (JSON.parse(JSON.stringify(location.options ?? {})) as Record<string, unknown>);
  return {
    location,
    options: { plugin: location.plugin, scheme: location.scheme, key: location.key, options },
  };
}
