import { type ObjectInfo, type ParsedLocation, type PluginRegistry, VsnapError } from "@vsnap/core";
import {
  ageOf,
  connectKube,
  isTerminal,
  type Kube,
  listRequests,
  type RequestPhase,
  type StoredRequest,
} from "@vsnap/kube";
import { type OptionValues, stringOption } from "./command.js";
import { formatBytes, formatCount } from "./output.js";
import { volumesCell } from "./volumes-view.js";

export function kubeFrom(options: OptionValues): Kube {
  const kubeconfig = stringOption(options, "kubeconfig");
  const context = stringOption(options, "context");
  return connectKube({ ...(kubeconfig ? { kubeconfig } : {}), ...(context ? { context } : {}) });
}

/** A URL as cluster commands compare it: requests record the public form (no credentials). */
export async function locate(raw: string, registry: PluginRegistry): Promise<ParsedLocation> {
  return registry.parse(raw);
}

/** What `snapshot get/list` show for one URL: the latest request merged with what the store holds. */
export interface SnapshotView {
  readonly snapshot: string;
  readonly url: string;
  readonly status: string;
  readonly age: string;
  readonly saved?: { readonly size: number; readonly modified: string };
  readonly progress?: string;
  readonly error?: string;
  readonly request?: string;
  readonly requestedAt?: string;
  readonly attempts?: number;
  /** `completed/total` volume snapshots (--include-volumes). */
  readonly volumes?: string;
}

export function phaseLabel(phase: RequestPhase): string {
  return phase === "" ? "Pending" : phase;
}

export function describeProgress(r: StoredRequest): string | undefined {
  const p = r.request.status.progress;
  const result = r.request.status.result;
  if (r.request.status.phase === "Completed" && result)
    return `${formatCount(result.keys)} keys, ${formatBytes(result.bytes)} -> ${formatBytes(result.size)}`;
  if (!p || isTerminal(r.request.status.phase)) return undefined;
  const keys =
    p.totalKeys !== undefined
      ? `${formatCount(p.keys)}/${formatCount(p.totalKeys)} keys`
      : `${formatCount(p.keys)} keys`;
  const rate = p.bytesPerSecond ? ` at ${formatBytes(p.bytesPerSecond)}/s` : "";
  return `${keys} read (${formatBytes(p.bytes)}), ${formatBytes(p.archiveBytes)} uploaded${rate}`;
}

export function viewOf(
  display: string,
  request: StoredRequest | undefined,
  stored: ObjectInfo | undefined,
  now = Date.now(),
): SnapshotView {
  const saved = stored ? { size: stored.size, modified: stored.modified.toISOString() } : undefined;
  if (!request) {
    return {
      snapshot: display,
      url: display,
      status: "Completed",
      age: ageOf(stored?.modified ?? null, now),
      ...(saved ? { saved } : {}),
    };
  }
  const s = request.request.status;
  const progress = describeProgress(request);
  return {
    snapshot: request.request.spec.display,
    url: request.request.spec.url,
    status: phaseLabel(s.phase),
    age: ageOf(request.request.spec.requestedAt || request.request.metadata.creationTimestamp, now),
    ...(saved ? { saved } : {}),
    ...(progress ? { progress } : {}),
    ...(s.error?.message ? { error: s.error.message } : {}),
    request: `${request.namespace}/${request.name}`,
    requestedAt: request.request.spec.requestedAt,
    ...(s.attempts ? { attempts: s.attempts } : {}),
    ...(volumesCell(request) ? { volumes: volumesCell(request) } : {}),
  };
}

export function viewRow(v: SnapshotView): string[] {
  return [
    v.snapshot,
    v.status,
    v.age,
    v.saved ? formatBytes(v.saved.size) : "-",
    v.volumes ?? "-",
    v.progress ?? "-",
  ];
}

export const VIEW_HEADERS = ["SNAPSHOT", "STATUS", "AGE", "SAVED", "VOLUMES", "PROGRESS"];

/** The newest request of a vCluster per URL (snapshots and deletions both speak for the URL). */
export async function latestRequests(
  kube: Kube,
  vc: { name: string; namespace: string },
): Promise<Map<string, StoredRequest>> {
  const byUrl = new Map<string, StoredRequest>();
  for (const r of await listRequests(kube, vc.namespace, { vcluster: vc.name }))
    byUrl.set(r.request.spec.url, r);
  return byUrl;
}

/** Stat through the store; undefined when the object is missing, an error message when unreachable. */
export async function statStored(
  registry: PluginRegistry,
  location: ParsedLocation,
  env: Readonly<Record<string, string | undefined>>,
  signal: AbortSignal,
): Promise<{ info?: ObjectInfo; problem?: string }> {
  try {
    const { store } = await registry.open(location, { env });
    try {
      const info = await store.stat(location.key, { signal });
      return info ? { info } : {};
    } finally {
      await store.close();
    }
  } catch (error) {
    return { problem: VsnapError.wrap(error, "UNAVAILABLE").message };
  }
}

export function exitForPhase(phase: RequestPhase): number {
  return phase === "Completed" || phase === "Deleted" ? 0 : phase === "Canceled" ? 130 : 1;
}
