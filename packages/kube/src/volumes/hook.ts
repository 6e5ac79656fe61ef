import { randomBytes } from "node:crypto";
import { readArchive, type Store, VsnapError } from "@vsnap/core";
import type { Kube } from "../client.js";
import type { SnapshotRequest } from "../requests.js";
import { type DeleteVolumesInput, deleteVolumeSnapshots, type VolumeDeleteResult } from "./delete.js";
import { type SnapshotVolumesResult, snapshotVolumes, type VolumeTimings } from "./snapshot.js";
import type { VolumeSnapshotRecord, VolumeSnapshotsStatus } from "./types.js";

/**
 * What the controller calls for a request with `includeVolumes`: the CSI snapshots of the
 * vCluster's volumes, taken before the backing store is read (as vCluster orders it, so the
 * archive's PVC objects never refer to a snapshot that does not exist yet). Resolves undefined
 * when the request did not ask for volumes.
 */
export async function snapshotRequestVolumes(
  kube: Kube,
  request: Pick<SnapshotRequest, "metadata" | "spec">,
  options: VolumeTimings & { signal?: AbortSignal; onStatus?: (status: VolumeSnapshotsStatus) => void } = {},
): Promise<SnapshotVolumesResult | undefined> {
  if (!request.spec.includeVolumes) return undefined;
  return snapshotVolumes(kube, {
    ...options,
    vcluster: request.spec.vcluster,
    requestName: request.metadata.name,
  });
}

/** The request's final phase and error given its volumes (vCluster carries PartiallyFailed to the request). */
export function volumesOutcome(volumes: SnapshotVolumesResult | undefined): {
  phase: "Completed" | "PartiallyFailed";
  error: { message?: string };
} {
  if (!volumes || volumes.status.failed === 0) return { phase: "Completed", error: {} };
  const failures = volumes.records
    .filter((r) => r.phase === "Failed")
    .map((r) => `${r.key}: ${r.reason ?? "failed"}`)
    .join("; ");
  return {
    phase: "PartiallyFailed",
    error: { message: `${volumes.status.error?.message ?? "volume snapshots failed"}: ${failures}` },
  };
}

/**
 * The volume list of a stored archive (its `/vcluster/snapshot/vsnap/volumes` entry), or undefined
 * when the archive has none or does not exist. The entry sits after the keys, so the archive is
 * streamed (never held in memory).
 */
export async function readArchiveVolumes(
  store: Store,
  key: string,
  signal?: AbortSignal,
): Promise<readonly VolumeSnapshotRecord[] | undefined> {
  if (!(await store.stat(key, signal ? { signal } : {}))) return undefined;
  const object = await store.get(key, signal ? { signal } : {});
  for await (const entry of readArchive(object.body, signal ? { signal } : {})) {
    if (entry.kind !== "volumes") continue;
    const value = JSON.parse((await entry.bytes()).toString("utf8")) as unknown;
    if (!Array.isArray(value))
      throw new VsnapError("INTEGRITY", `${entry.name} of ${key} is not a JSON array`);
    return value as VolumeSnapshotRecord[];
  }
  return undefined;
}

/**
 * What the controller calls before deleting a stored snapshot: deletes the backend volume
 * snapshots the archive records. Throws (and the archive must then be kept: it is the only
 * record of the handles) when the list cannot be read or a volume snapshot could not be deleted.
 */
export async function deleteArchiveVolumes(
  kube: Kube,
  store: Store,
  key: string,
  options: Omit<DeleteVolumesInput, "records" | "deleteId"> & { deleteId?: string },
): Promise<VolumeDeleteResult[]> {
  let records: readonly VolumeSnapshotRecord[] | undefined;
  try {
    records = await readArchiveVolumes(store, key, options.signal);
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const e = VsnapError.wrap(error, "INTERNAL");
    throw new VsnapError(e.code, `cannot read the volume snapshot list of ${key}: ${e.message}`, {
      cause: error,
      hint: "the snapshot was kept: deleting it would orphan the volume snapshots it records; delete the object with the store's own tools if you accept that",
    });
  }
  if (!records?.length) return [];
  const results = await deleteVolumeSnapshots(kube, {
    ...options,
    records,
    deleteId: options.deleteId ?? randomBytes(3).toString("hex"),
  });
  const failed = results.filter((r) => r.phase === "Failed");
  if (failed.length)
    throw new VsnapError(
      "UNAVAILABLE",
      `${failed.length} of ${results.length} volume snapshots could not be deleted: ${failed.map((f) => `${f.key} (${f.snapshotHandle}): ${f.message}`).join("; ")}`,
      {
        hint: "the snapshot was kept so that its volume snapshots can still be found; retry the delete",
      },
    );
  return results;
}

/**
 * Volume timings from the controller's environment: VSNAP_VOLUME_TIMEOUT (per volume, default
 * 10m), VSNAP_VOLUME_POLL_INTERVAL (1s) and VSNAP_VOLUME_ERROR_GRACE (30s), as 500ms / 30s / 10m.
 */
export function volumeTimingsFromEnv(env: Readonly<Record<string, string | undefined>>): VolumeTimings {
  const ms = (name: string): number | undefined => {
    const raw = env[name];
    if (!raw) return undefined;
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
    if (!m)
      throw new VsnapError(
        "INVALID_ARGUMENT",
        `${name} must be a duration like 500ms, 30s or 10m, got "${raw}"`,
      );
    return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? "ms"] ?? 1);
  };
  const timeoutMs = ms("VSNAP_VOLUME_TIMEOUT");
  const pollMs = ms("VSNAP_VOLUME_POLL_INTERVAL");
  const errorGraceMs = ms("VSNAP_VOLUME_ERROR_GRACE");
  return {
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(pollMs === undefined ? {} : { pollMs }),
    ...(errorGraceMs === undefined ? {} : { errorGraceMs }),
  };
}
