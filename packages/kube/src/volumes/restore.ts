import { createHash } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { VsnapError } from "@vsnap/core";
import { isNotFound, type Kube, kubeError } from "../client.js";
import { objectName, SNAPSHOT_GROUP, SnapshotApi, sleep } from "./api.js";
import { type VolumeTimings, waitReady } from "./snapshot.js";
import { VOLUME_PVC_LABEL, VOLUME_RESTORE_LABEL, type VolumeSnapshotRecord } from "./types.js";

export const RESTORED_FROM_ANNOTATION = "vsnap.dev/restored-from-snapshot";
export const VOLUME_EVENT_CONTROLLER = "vsnap.dev/restore";

export interface VolumeTarget {
  readonly namespace: string;
  readonly name: string;
}

export interface RestoreVolumesInput extends VolumeTimings {
  readonly records: readonly VolumeSnapshotRecord[];
  /** Names and labels the temporary objects. */
  readonly restoreId: string;
  /** Where a recorded PVC is re-created (default: its recorded namespace and name). */
  readonly target?: (record: VolumeSnapshotRecord) => VolumeTarget;
  readonly signal?: AbortSignal;
  /** Called as each volume finishes. */
  readonly onVolume?: (result: VolumeRestoreResult) => void;
}

export interface VolumeRestoreResult {
  /** `<namespace>/<name>` of the PVC restored (or skipped). */
  readonly key: string;
  /** The PVC as recorded in the snapshot. */
  readonly source: string;
  /**
   * Restored: bound to a new volume with the snapshot's data. Provisioning: the StorageClass binds
   * on first use, so the PVC waits for a pod (its VolumeSnapshot is kept until then). Skipped: not
   * restored (the PVC exists, or no snapshot was taken). Failed: see message.
   */
  readonly phase: "Restored" | "Provisioning" | "Skipped" | "Failed";
  readonly message: string;
  readonly snapshotHandle?: string;
  readonly volumeName?: string;
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 8);

/**
 * Restores the volumes a snapshot recorded: for each completed one, a pre-provisioned
 * VolumeSnapshotContent (deletionPolicy Retain: the backend snapshot belongs to the archive and
 * must survive) and a VolumeSnapshot from the recorded handle, then the PVC with `dataSource`
 * pointing at it; wait for Bound, then delete the two snapshot objects. A PVC that already exists
 * is left alone, with a Warning event on it saying its data was not replaced (vcluster#3951 made
 * that silent skip visible).
 */
export async function restoreVolumes(kube: Kube, input: RestoreVolumesInput): Promise<VolumeRestoreResult[]> {
  const api = new SnapshotApi(kube);
  const storage = kube.config.makeApiClient(k8s.StorageV1Api);
  const results = await Promise.all(
    input.records.map(async (record) => {
      const target = input.target?.(record) ?? {
        namespace: record.persistentVolumeClaim.metadata?.namespace ?? "",
        name: record.persistentVolumeClaim.metadata?.name ?? "",
      };
      const key = `${target.namespace}/${target.name}`;
      let result: VolumeRestoreResult;
      try {
        result = await restoreOne(kube, api, storage, input, record, target);
      } catch (error) {
        if (input.signal?.aborted) throw error;
        result = {
          key,
          source: record.key,
          phase: "Failed",
          message: VsnapError.wrap(error, "INTERNAL").message,
        };
      }
      input.onVolume?.(result);
      return result;
    }),
  );
  return results;
}

async function restoreOne(
  kube: Kube,
  api: SnapshotApi,
  storage: k8s.StorageV1Api,
  input: RestoreVolumesInput,
  record: VolumeSnapshotRecord,
  target: VolumeTarget,
): Promise<VolumeRestoreResult> {
  const key = `${target.namespace}/${target.name}`;
  const base = { key, source: record.key };
  if (record.phase !== "Completed" || !record.snapshotHandle || !record.csiDriver)
    return {
      ...base,
      phase: "Skipped",
      message: `the snapshot holds no copy of this volume (${record.phase}${record.reason ? `: ${record.reason}` : ""})`,
    };
  const handle = record.snapshotHandle;
  const existing = await kube.core
    .readNamespacedPersistentVolumeClaim({ name: target.name, namespace: target.namespace })
    .catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw kubeError(error, `reading PVC ${key}`);
    });
  if (existing) {
    const message = `PVC ${key} already exists: its data was NOT replaced by volume snapshot ${handle}; delete the PVC and restore again to get the snapshot's data`;
    await warnOn(kube, existing, "VolumeRestoreSkipped", message);
    return { ...base, phase: "Skipped", message, snapshotHandle: handle };
  }
  const labels = {
    [VOLUME_RESTORE_LABEL]: input.restoreId,
    [VOLUME_PVC_LABEL]: target.name.slice(0, 63).replace(/[-_.]+$/, ""),
  };
  const contentName = objectName(`vsnap-restore-${input.restoreId}`, hash(key));
  const snapshotName = objectName(target.name, `restore-${input.restoreId}`);
  await api.createContent({
    metadata: { name: contentName, labels },
    spec: {
      deletionPolicy: "Retain",
      driver: record.csiDriver,
      source: { snapshotHandle: handle },
      sourceVolumeMode: record.sourceVolumeMode ?? "Filesystem",
      ...(record.volumeSnapshotClassName ? { volumeSnapshotClassName: record.volumeSnapshotClassName } : {}),
      volumeSnapshotRef: { name: snapshotName, namespace: target.namespace },
    },
  });
  let createdClaim = false;
  let keepSnapshot = false;
  try {
    await api.createSnapshot(target.namespace, {
      metadata: { name: snapshotName, labels },
      spec: {
        ...(record.volumeSnapshotClassName
          ? { volumeSnapshotClassName: record.volumeSnapshotClassName }
          : {}),
        source: { volumeSnapshotContentName: contentName },
      },
    });
    await waitReady(api, target.namespace, snapshotName, input);
    const recorded = record.persistentVolumeClaim;
    const spec: k8s.V1PersistentVolumeClaimSpec = { ...(recorded.spec ?? {}) };
    delete spec.volumeName;
    delete spec.dataSourceRef;
    spec.dataSource = { apiGroup: SNAPSHOT_GROUP, kind: "VolumeSnapshot", name: snapshotName };
    try {
      await kube.core.createNamespacedPersistentVolumeClaim({
        namespace: target.namespace,
        body: {
          metadata: {
            name: target.name,
            ...(recorded.metadata?.labels ? { labels: recorded.metadata.labels } : {}),
            annotations: { ...(recorded.metadata?.annotations ?? {}), [RESTORED_FROM_ANNOTATION]: handle },
          },
          spec,
        },
      });
      createdClaim = true;
    } catch (error) {
      throw kubeError(error, `creating PVC ${key}`);
    }
    const mode = spec.storageClassName ? await bindingMode(storage, spec.storageClassName) : undefined;
    if (mode === "WaitForFirstConsumer") {
      keepSnapshot = true;
      return {
        ...base,
        phase: "Provisioning",
        snapshotHandle: handle,
        message: `PVC ${key} created from snapshot ${handle}; StorageClass ${spec.storageClassName} binds it when a pod uses it (VolumeSnapshot ${target.namespace}/${snapshotName} stays until then)`,
      };
    }
    const bound = await waitBound(kube, target.namespace, target.name, input);
    return {
      ...base,
      phase: "Restored",
      snapshotHandle: handle,
      volumeName: bound.spec?.volumeName ?? "",
      message: `PVC ${key} bound to ${bound.spec?.volumeName} from snapshot ${handle}`,
    };
  } catch (error) {
    // a claim that never bound is removed so that the restore can be retried
    if (createdClaim)
      await kube.core
        .deleteNamespacedPersistentVolumeClaim({ name: target.name, namespace: target.namespace })
        .catch(() => {});
    throw error;
  } finally {
    if (!keepSnapshot) {
      // Retain: deleting the objects leaves the backend snapshot (the archive still refers to it)
      await api.deleteSnapshot(target.namespace, snapshotName).catch(() => {});
      await api.deleteContent(contentName).catch(() => {});
    }
  }
}

async function bindingMode(storage: k8s.StorageV1Api, name: string): Promise<string | undefined> {
  try {
    return (await storage.readStorageClass({ name })).volumeBindingMode;
  } catch {
    return undefined;
  }
}

async function waitBound(
  kube: Kube,
  namespace: string,
  name: string,
  timings: VolumeTimings & { signal?: AbortSignal },
) {
  const timeout = timings.timeoutMs ?? 10 * 60_000;
  const started = Date.now();
  for (;;) {
    const pvc = await kube.core
      .readNamespacedPersistentVolumeClaim({ name, namespace })
      .catch((error: unknown) => {
        throw kubeError(error, `reading PVC ${namespace}/${name}`);
      });
    if (pvc.status?.phase === "Bound") return pvc;
    if (Date.now() - started > timeout)
      throw new VsnapError(
        "TIMEOUT",
        `PVC ${namespace}/${name} was not Bound after ${Math.round(timeout / 1000)}s (phase ${pvc.status?.phase ?? "Pending"})`,
        {
          hint: `kubectl describe pvc -n ${namespace} ${name}: the CSI provisioner must support restoring from snapshots`,
        },
      );
    await sleep(timings.pollMs ?? 1000, timings.signal);
  }
}

/** A Warning event on a PVC (best effort: an event that cannot be written never fails the restore). */
export async function warnOn(
  kube: Kube,
  pvc: k8s.V1PersistentVolumeClaim,
  reason: string,
  note: string,
): Promise<void> {
  const namespace = pvc.metadata?.namespace ?? "";
  await kube.events
    .createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${pvc.metadata?.name}.` },
        eventTime: new Date().toISOString() as unknown as Date,
        type: "Warning",
        reason,
        action: "Restore",
        note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
        reportingController: VOLUME_EVENT_CONTROLLER,
        reportingInstance: "vsnap",
        regarding: {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          name: pvc.metadata?.name ?? "",
          namespace,
          uid: pvc.metadata?.uid ?? "",
        },
      },
    })
    .catch(() => {});
}
