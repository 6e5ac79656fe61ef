import * as k8s from "@kubernetes/client-node";
import { type HelmRelease, type ParsedLocation, type SnapshotRequestRecord, VsnapError } from "@vsnap/core";
import { isConflict, isNotFound, type Kube, kubeError } from "./client.js";
import type { BackingStore } from "./config.js";

export const REQUEST_LABEL = "vsnap.dev/snapshot-request";
export const VCLUSTER_NAME_LABEL = "vsnap.dev/vcluster-name";
export const VCLUSTER_NAMESPACE_LABEL = "vsnap.dev/vcluster-namespace";
/** ConfigMap key of the request JSON (vCluster's key, so its tooling can read ours). */
export const REQUEST_KEY = "snapshotRequest";
/** Secret key of the store options JSON. */
export const OPTIONS_KEY = "snapshotOptions";

export type RequestPhase =
  | ""
  | "CreatingEtcdBackup"
  | "Completed"
  | "PartiallyFailed"
  | "Failed"
  | "Canceling"
  | "Canceled"
  | "Deleting"
  | "DeletingEtcdBackup"
  | "Deleted";

/** Phases after which nothing more happens to a request (vCluster forgot `Deleted`; we do not). */
export const TERMINAL_PHASES: readonly RequestPhase[] = [
  "Completed",
  "PartiallyFailed",
  "Failed",
  "Canceled",
  "Deleted",
];
export const isTerminal = (phase: RequestPhase | undefined) => TERMINAL_PHASES.includes(phase ?? "");

export interface RequestProgress {
  /** Backing-store keys and bytes read so far, and the totals when known. */
  readonly keys: number;
  readonly bytes: number;
  readonly totalKeys?: number;
  readonly totalBytes?: number;
  /** Compressed bytes uploaded so far. */
  readonly archiveBytes: number;
  /** Upload rate over the whole run, bytes/s. */
  readonly bytesPerSecond?: number;
  readonly updatedAt: string;
}

/** Who works on a request; a lease not renewed within `durationSeconds` belongs to a dead controller. */
export interface RequestLease {
  readonly holder: string;
  readonly renewTime: string;
  readonly durationSeconds: number;
}

export interface RequestResult {
  /** Archive size in the store. */
  readonly size: number;
  readonly keys: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly revision?: number;
  readonly backingStore: string;
}

export interface SnapshotRequest extends SnapshotRequestRecord {
  readonly metadata: { readonly name: string; readonly creationTimestamp: string | null };
  readonly spec: {
    /** The URL without credentials (ParsedLocation.publicUrl). */
    readonly url: string;
    /** The URL as shown to people, secrets masked (ParsedLocation.display). */
    readonly display: string;
    readonly operation: "snapshot" | "delete";
    readonly includeVolumes?: boolean;
    /** Millisecond-precision creation time: orders requests made within one second. */
    readonly requestedAt: string;
    readonly vcluster: { readonly name: string; readonly namespace: string };
  };
  readonly status: {
    readonly phase: RequestPhase;
    readonly error: { readonly message?: string };
    readonly progress?: RequestProgress;
    readonly attempts?: number;
    readonly lease?: RequestLease;
    readonly startTime?: string;
    readonly completionTime?: string;
    readonly result?: RequestResult;
    /** The newer request that canceled this one. */
    readonly canceledBy?: string;
    /** Per-volume outcome of `--include-volumes` (issue 7). */
    readonly volumeSnapshots?: import("./volumes/types.js").VolumeSnapshotsStatus;
  };
}

/** What travels in the request's Secret: everything the controller needs that may hold a credential. */
export interface RequestOptions {
  readonly plugin: string;
  readonly scheme: string;
  readonly key: string;
  /** The plugin's `toRequestOptions` output (credentials included), or its options as JSON. */
  readonly options: Record<string, unknown>;
  readonly release?: HelmRelease;
  /** The vcluster.yaml (it may hold a database password, hence here and not in the ConfigMap). */
  readonly vclusterConfig?: string;
  readonly backingStore?: BackingStore;
}

/** A request as it is stored: the request JSON plus the ConfigMap's identity. */
export interface StoredRequest {
  readonly request: SnapshotRequest;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The ConfigMap has a deletionTimestamp (a user deleted it). */
  readonly deleting: boolean;
}

export interface CreateRequestInput {
  readonly vcluster: { readonly name: string; readonly namespace: string };
  readonly location: Pick<ParsedLocation, "publicUrl" | "display" | "key" | "plugin" | "scheme">;
  readonly options: RequestOptions;
  readonly operation?: "snapshot" | "delete";
  readonly includeVolumes?: boolean;
}

export function requestLabels(vc: { name: string; namespace: string }): Record<string, string> {
  return { [REQUEST_LABEL]: "", [VCLUSTER_NAME_LABEL]: vc.name, [VCLUSTER_NAMESPACE_LABEL]: vc.namespace };
}

const secondsTimestamp = (d = new Date()) => `${d.toISOString().slice(0, 19)}Z`;

/**
 * Writes a request: the options Secret first (so the controller never sees a request without its
 * options), then the ConfigMap of the same name, then makes the ConfigMap the Secret's owner so a
 * deleted request takes its credentials with it.
 */
export async function createRequest(kube: Kube, input: CreateRequestInput): Promise<StoredRequest> {
  const { vcluster } = input;
  const operation = input.operation ?? "snapshot";
  const labels = requestLabels(vcluster);
  let secret: k8s.V1Secret;
  try {
    secret = await kube.core.createNamespacedSecret({
      namespace: vcluster.namespace,
      body: {
        metadata: {
          generateName: `${vcluster.name}-snapshot-request-${operation === "delete" ? "delete-" : ""}`,
          labels,
        },
        type: "Opaque",
        data: { [OPTIONS_KEY]: Buffer.from(JSON.stringify(input.options)).toString("base64") },
      },
    });
  } catch (error) {
    throw kubeError(error, `creating the snapshot request Secret in namespace "${vcluster.namespace}"`);
  }
  const name = secret.metadata?.name ?? "";
  const now = new Date();
  const request: SnapshotRequest = {
    metadata: { name, creationTimestamp: secondsTimestamp(now) },
    spec: {
      url: input.location.publicUrl,
      display: input.location.display,
      operation,
      ...(input.includeVolumes ? { includeVolumes: true } : {}),
      requestedAt: now.toISOString(),
      vcluster,
    },
    status: { phase: operation === "delete" ? "Deleting" : "", error: {} },
  };
  let cm: k8s.V1ConfigMap;
  try {
    cm = await kube.core.createNamespacedConfigMap({
      namespace: vcluster.namespace,
      body: { metadata: { name, labels }, data: { [REQUEST_KEY]: JSON.stringify(request) } },
    });
  } catch (error) {
    await kube.core.deleteNamespacedSecret({ name, namespace: vcluster.namespace }).catch(() => {});
    throw kubeError(error, `creating the snapshot request ConfigMap ${vcluster.namespace}/${name}`);
  }
  await kube.core
    .patchNamespacedSecret(
      {
        name,
        namespace: vcluster.namespace,
        body: {
          metadata: {
            ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name, uid: cm.metadata?.uid ?? "" }],
          },
        },
      },
      mergePatch(),
    )
    .catch(() => {
      // only garbage collection depends on it; the controller deletes the Secret itself
    });
  return fromConfigMap(cm);
}

/** Parses a request ConfigMap; malformed ones are an INVALID_ARGUMENT error naming the ConfigMap. */
export function fromConfigMap(cm: k8s.V1ConfigMap): StoredRequest {
  const name = cm.metadata?.name ?? "";
  const namespace = cm.metadata?.namespace ?? "";
  const raw = cm.data?.[REQUEST_KEY];
  let parsed: SnapshotRequest;
  try {
    parsed = JSON.parse(raw ?? "") as SnapshotRequest;
    if (typeof parsed?.spec?.url !== "string") throw new Error("spec.url is missing");
  } catch (error) {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `snapshot request ${namespace}/${name} is malformed: ${(error as Error).message}`,
    );
  }
  const request: SnapshotRequest = {
    ...parsed,
    metadata: { name, creationTimestamp: parsed.metadata?.creationTimestamp ?? null },
    spec: {
      ...parsed.spec,
      display: parsed.spec.display ?? parsed.spec.url,
      operation: parsed.spec.operation ?? (parsed.status?.phase === "Deleting" ? "delete" : "snapshot"),
      requestedAt: parsed.spec.requestedAt ?? parsed.metadata?.creationTimestamp ?? "",
      vcluster: parsed.spec.vcluster ?? {
        name: cm.metadata?.labels?.[VCLUSTER_NAME_LABEL] ?? "",
        namespace: cm.metadata?.labels?.[VCLUSTER_NAMESPACE_LABEL] ?? namespace,
      },
    },
    status: { ...parsed.status, phase: parsed.status?.phase ?? "", error: parsed.status?.error ?? {} },
  };
  return {
    request,
    name,
    namespace,
    uid: cm.metadata?.uid ?? "",
    resourceVersion: cm.metadata?.resourceVersion ?? "",
    labels: cm.metadata?.labels ?? {},
    deleting: !!cm.metadata?.deletionTimestamp,
  };
}

export async function getRequest(
  kube: Kube,
  namespace: string,
  name: string,
): Promise<StoredRequest | undefined> {
  try {
    return fromConfigMap(await kube.core.readNamespacedConfigMap({ name, namespace }));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw kubeError(error, `reading snapshot request ${namespace}/${name}`);
  }
}

/** Requests in a namespace (all vClusters unless `vcluster` is given), oldest first; malformed ones are skipped. */
export async function listRequests(
  kube: Kube,
  namespace: string,
  filter: { vcluster?: string; onMalformed?: (error: VsnapError) => void } = {},
): Promise<StoredRequest[]> {
  const labelSelector = filter.vcluster
    ? `${REQUEST_LABEL},${VCLUSTER_NAME_LABEL}=${filter.vcluster}`
    : REQUEST_LABEL;
  let items: k8s.V1ConfigMap[];
  try {
    items = (await kube.core.listNamespacedConfigMap({ namespace, labelSelector })).items;
  } catch (error) {
    throw kubeError(error, `listing snapshot requests in namespace "${namespace}"`);
  }
  const out: StoredRequest[] = [];
  for (const cm of items) {
    try {
      out.push(fromConfigMap(cm));
    } catch (error) {
      filter.onMalformed?.(error as VsnapError);
    }
  }
  return out.sort(compareRequests);
}

/** Oldest first, by the millisecond request time, then by name. */
export function compareRequests(a: StoredRequest, b: StoredRequest): number {
  return a.request.spec.requestedAt.localeCompare(b.request.spec.requestedAt) || a.name.localeCompare(b.name);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
export type StatusUpdate = Partial<Mutable<SnapshotRequest["status"]>>;

/**
 * Writes a new status, only if the ConfigMap is still at the version read (optimistic
 * concurrency: two writers cannot both win). A CONFLICT error means someone else wrote first.
 */
export async function updateRequestStatus(
  kube: Kube,
  stored: StoredRequest,
  update: StatusUpdate,
): Promise<StoredRequest> {
  const status = { ...stored.request.status, ...update };
  for (const [k, v] of Object.entries(status))
    if (v === undefined) delete (status as Record<string, unknown>)[k];
  const request: SnapshotRequest = { ...stored.request, status: status as SnapshotRequest["status"] };
  try {
    const cm = await kube.core.patchNamespacedConfigMap(
      {
        name: stored.name,
        namespace: stored.namespace,
        body: {
          metadata: { resourceVersion: stored.resourceVersion },
          data: { [REQUEST_KEY]: JSON.stringify(request) },
        },
      },
      mergePatch(),
    );
    return fromConfigMap(cm);
  } catch (error) {
    if (isConflict(error))
      throw new VsnapError(
        "CONFLICT",
        `snapshot request ${stored.namespace}/${stored.name} changed while it was being updated`,
        { cause: error },
      );
    if (isNotFound(error))
      throw new VsnapError("NOT_FOUND", `snapshot request ${stored.namespace}/${stored.name} was deleted`, {
        cause: error,
      });
    throw kubeError(error, `updating snapshot request ${stored.namespace}/${stored.name}`);
  }
}

export async function readRequestOptions(
  kube: Kube,
  namespace: string,
  name: string,
): Promise<RequestOptions | undefined> {
  let secret: k8s.V1Secret;
  try {
    secret = await kube.core.readNamespacedSecret({ name, namespace });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw kubeError(error, `reading the options Secret of snapshot request ${namespace}/${name}`);
  }
  const data = secret.data?.[OPTIONS_KEY];
  if (!data) return undefined;
  try {
    return JSON.parse(Buffer.from(data, "base64").toString("utf8")) as RequestOptions;
  } catch {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `the options Secret of snapshot request ${namespace}/${name} is not valid JSON`,
    );
  }
}

/** Idempotent. */
export async function deleteRequestOptions(kube: Kube, namespace: string, name: string): Promise<void> {
  try {
    await kube.core.deleteNamespacedSecret({ name, namespace });
  } catch (error) {
    if (!isNotFound(error))
      throw kubeError(error, `deleting the options Secret of snapshot request ${namespace}/${name}`);
  }
}

/** Idempotent. */
export async function deleteRequest(kube: Kube, namespace: string, name: string): Promise<void> {
  try {
    await kube.core.deleteNamespacedConfigMap({ name, namespace });
  } catch (error) {
    if (!isNotFound(error)) throw kubeError(error, `deleting snapshot request ${namespace}/${name}`);
  }
}

export function mergePatch() {
  return k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
}
