import type * as k8s from "@kubernetes/client-node";
import { VsnapError } from "@vsnap/core";
import { isNotFound, type Kube, kubeError } from "../client.js";
import { objectName, SnapshotApi, sleep, type VolumeSnapshotClass } from "./api.js";
import {
  DEFAULT_CLASS_ANNOTATION,
  MANAGED_BY_LABEL,
  SNAPSHOT_CLASS_LABEL,
  VIRTUAL_NAME_ANNOTATION,
  VIRTUAL_NAMESPACE_ANNOTATION,
  VOLUME_PVC_LABEL,
  VOLUME_REQUEST_LABEL,
  type VolumeSnapshotRecord,
  type VolumeSnapshotsStatus,
} from "./types.js";

export interface VolumeTimings {
  /** How long one volume may take to become readyToUse (default 10 min). */
  readonly timeoutMs?: number;
  /** Poll interval (default 1 s). */
  readonly pollMs?: number;
  /**
   * How long an error reported on a VolumeSnapshot may last before it counts as a failure
   * (default 30 s): the snapshot-controller retries, and some errors are transient.
   */
  readonly errorGraceMs?: number;
}

export interface SnapshotVolumesInput extends VolumeTimings {
  readonly vcluster: { readonly name: string; readonly namespace: string };
  /** Names the VolumeSnapshots (`<pvc>-<requestName>`) and labels them. */
  readonly requestName: string;
  readonly signal?: AbortSignal;
  /** Called whenever a volume changes state (write it to the request status). */
  readonly onStatus?: (status: VolumeSnapshotsStatus) => void;
}

export interface SnapshotVolumesResult {
  readonly records: VolumeSnapshotRecord[];
  readonly status: VolumeSnapshotsStatus;
}

/** Annotations that describe one binding, not the claim: dropped from the recorded PVC (as vCluster does). */
const BINDING_ANNOTATIONS = [
  "kubectl.kubernetes.io/last-applied-configuration",
  "pv.kubernetes.io/bind-completed",
  "pv.kubernetes.io/bound-by-controller",
  "volume.beta.kubernetes.io/storage-provisioner",
  "volume.kubernetes.io/storage-provisioner",
  "volume.kubernetes.io/selected-node",
];

/** The PVC as a restore can re-create it: identity, status and binding removed. */
export function sanitisePvc(pvc: k8s.V1PersistentVolumeClaim): k8s.V1PersistentVolumeClaim {
  const meta = pvc.metadata ?? {};
  const annotations = Object.fromEntries(
    Object.entries(meta.annotations ?? {}).filter(([k]) => !BINDING_ANNOTATIONS.includes(k)),
  );
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: meta.name ?? "",
      namespace: meta.namespace ?? "",
      ...(meta.labels && Object.keys(meta.labels).length ? { labels: meta.labels } : {}),
      ...(Object.keys(annotations).length ? { annotations } : {}),
    },
    spec: { ...(pvc.spec ?? {}) },
  };
}

/**
 * `--include-volumes`: a CSI snapshot of every bound PVC of the vCluster (host PVCs labelled
 * `vcluster.loft.sh/managed-by=NAME`). For each: a VolumeSnapshot (class from the PVC's
 * `vcluster.loft.sh/csi-volumesnapshot-class` label, else the driver's default class), wait for
 * readyToUse, record the handle, then keep the backend snapshot and drop the Kubernetes objects
 * (content deletionPolicy Retain, delete snapshot and content). Non-CSI and unbound PVCs are
 * recorded as Skipped with the reason; a volume that fails does not stop the others.
 */
export async function snapshotVolumes(
  kube: Kube,
  input: SnapshotVolumesInput,
): Promise<SnapshotVolumesResult> {
  const { vcluster } = input;
  const api = new SnapshotApi(kube);
  let claims: k8s.V1PersistentVolumeClaim[];
  try {
    claims = (
      await kube.core.listNamespacedPersistentVolumeClaim({
        namespace: vcluster.namespace,
        labelSelector: `${MANAGED_BY_LABEL}=${vcluster.name}`,
      })
    ).items;
  } catch (error) {
    throw kubeError(error, `listing the PVCs of vCluster "${vcluster.name}"`);
  }
  claims.sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  const records = new Map<string, VolumeSnapshotRecord>();
  const inProgress = new Set<string>();
  const report = () => input.onStatus?.(statusOf([...records.values()], inProgress));

  let classes: VolumeSnapshotClass[] | undefined;
  const work: {
    key: string;
    base: Omit<VolumeSnapshotRecord, "phase">;
    run: () => Promise<VolumeSnapshotRecord>;
  }[] = [];
  for (const pvc of claims) {
    const key = `${pvc.metadata?.namespace}/${pvc.metadata?.name}`;
    const base = baseRecord(pvc, key);
    const skip = (reason: string) => records.set(key, { ...base, phase: "Skipped", reason });
    if (pvc.status?.phase !== "Bound" || !pvc.spec?.volumeName) {
      skip(`PVC is ${pvc.status?.phase ?? "Pending"}, not Bound: there is no volume to snapshot`);
      continue;
    }
    let pv: k8s.V1PersistentVolume | undefined;
    try {
      pv = await kube.core.readPersistentVolume({ name: pvc.spec.volumeName });
    } catch (error) {
      if (!isNotFound(error)) throw kubeError(error, `reading PersistentVolume ${pvc.spec.volumeName}`);
    }
    const driver = pv?.spec?.csi?.driver;
    if (!pv || !driver) {
      const kind = pv ? volumeKind(pv) : "missing";
      skip(
        `volume ${pvc.spec.volumeName} is not a CSI volume (${kind}): CSI snapshots cannot copy it; back it up another way (e.g. Velero's file-system backup)`,
      );
      continue;
    }
    classes ??= await api.classes();
    const wanted = pvc.metadata?.labels?.[SNAPSHOT_CLASS_LABEL];
    const cls = wanted
      ? classes.find((c) => c.metadata.name === wanted)
      : classes.find(
          (c) => c.driver === driver && c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true",
        );
    const withDriver = { ...base, csiDriver: driver, sourceVolumeMode: pv.spec?.volumeMode ?? "Filesystem" };
    if (!cls || cls.driver !== driver) {
      records.set(key, {
        ...withDriver,
        phase: "Failed",
        reason: wanted
          ? cls
            ? `VolumeSnapshotClass ${wanted} (label ${SNAPSHOT_CLASS_LABEL}) is for driver ${cls.driver}, not ${driver}`
            : `VolumeSnapshotClass ${wanted} (label ${SNAPSHOT_CLASS_LABEL}) does not exist`
          : `no default VolumeSnapshotClass for CSI driver ${driver}: annotate one with ${DEFAULT_CLASS_ANNOTATION}=true, or label the PVC ${SNAPSHOT_CLASS_LABEL}=CLASS`,
      });
      continue;
    }
    inProgress.add(key);
    const withClass = { ...withDriver, volumeSnapshotClassName: cls.metadata.name ?? "" };
    work.push({ key, base: withClass, run: () => snapshotOne(api, input, pvc, withClass) });
  }
  report();
  await Promise.all(
    work.map(async ({ key, base, run }) => {
      let record: VolumeSnapshotRecord;
      try {
        record = await run();
      } catch (error) {
        if (input.signal?.aborted) throw error;
        record = { ...base, phase: "Failed", reason: VsnapError.wrap(error, "INTERNAL").message };
      }
      inProgress.delete(key);
      records.set(key, record);
      report();
    }),
  );
  const ordered = claims
    .map((c) => records.get(`${c.metadata?.namespace}/${c.metadata?.name}`))
    .filter((r): r is VolumeSnapshotRecord => !!r);
  return { records: ordered, status: statusOf(ordered, new Set()) };
}

function baseRecord(pvc: k8s.V1PersistentVolumeClaim, key: string): Omit<VolumeSnapshotRecord, "phase"> {
  const a = pvc.metadata?.annotations ?? {};
  const virtualName = a[VIRTUAL_NAME_ANNOTATION];
  return {
    persistentVolumeClaim: sanitisePvc(pvc),
    key,
    ...(virtualName
      ? { virtual: { name: virtualName, namespace: a[VIRTUAL_NAMESPACE_ANNOTATION] ?? "" } }
      : {}),
  };
}

function volumeKind(pv: k8s.V1PersistentVolume): string {
  const spec = (pv.spec ?? {}) as Record<string, unknown>;
  const known = [
    "hostPath",
    "local",
    "nfs",
    "iscsi",
    "fc",
    "awsElasticBlockStore",
    "gcePersistentDisk",
    "azureDisk",
    "cephfs",
    "rbd",
  ];
  const kind = known.find((k) => spec[k] !== undefined);
  return kind ? `${kind} volume` : "in-tree volume";
}

async function snapshotOne(
  api: SnapshotApi,
  input: SnapshotVolumesInput,
  pvc: k8s.V1PersistentVolumeClaim,
  record: Omit<VolumeSnapshotRecord, "phase">,
): Promise<VolumeSnapshotRecord> {
  const namespace = pvc.metadata?.namespace ?? "";
  const claim = pvc.metadata?.name ?? "";
  const name = objectName(claim, input.requestName);
  await api.createSnapshot(namespace, {
    metadata: {
      name,
      labels: {
        [VOLUME_REQUEST_LABEL]: input.requestName,
        [VOLUME_PVC_LABEL]: claim.slice(0, 63).replace(/[-_.]+$/, ""),
      },
    },
    spec: {
      volumeSnapshotClassName: record.volumeSnapshotClassName ?? "",
      source: { persistentVolumeClaimName: claim },
    },
  });
  let contentName: string | undefined;
  try {
    const ready = await waitReady(api, namespace, name, input, (vs) => {
      contentName = vs.status?.boundVolumeSnapshotContentName ?? contentName;
    });
    contentName = ready.status?.boundVolumeSnapshotContentName;
    const content = contentName ? await api.getContent(contentName) : undefined;
    const handle = content?.status?.snapshotHandle;
    if (!contentName || !handle)
      throw new VsnapError(
        "INTERNAL",
        `VolumeSnapshot ${namespace}/${name} is ready but its content${contentName ? ` ${contentName}` : ""} has no snapshotHandle`,
      );
    // keep the backend snapshot, drop the objects: the handle in the archive is the link to it
    await api.setDeletionPolicy(contentName, "Retain");
    await api.deleteSnapshot(namespace, name);
    await api.deleteContent(contentName);
    return {
      ...record,
      phase: "Completed",
      snapshotHandle: handle,
      ...(ready.status?.restoreSize ? { restoreSize: ready.status.restoreSize } : {}),
      completedAt: new Date().toISOString(),
    };
  } catch (error) {
    // nothing of a failed or aborted snapshot may linger: a Delete policy removes any backend snapshot
    contentName ??= (await api.getSnapshot(namespace, name).catch(() => undefined))?.status
      ?.boundVolumeSnapshotContentName;
    if (contentName) await api.setDeletionPolicy(contentName, "Delete").catch(() => {});
    await api.deleteSnapshot(namespace, name).catch(() => {});
    if (contentName) await api.deleteContent(contentName).catch(() => {});
    throw error;
  }
}

/** Polls a VolumeSnapshot until readyToUse; an error that persists past the grace period fails it. */
export async function waitReady(
  api: SnapshotApi,
  namespace: string,
  name: string,
  timings: VolumeTimings & { readonly signal?: AbortSignal },
  onSeen: (vs: import("./api.js").VolumeSnapshot) => void = () => {},
) {
  const timeout = timings.timeoutMs ?? 10 * 60_000;
  const poll = timings.pollMs ?? 1000;
  const grace = timings.errorGraceMs ?? 30_000;
  const started = Date.now();
  let errorSince: number | undefined;
  for (;;) {
    const vs = await api.getSnapshot(namespace, name);
    if (!vs)
      throw new VsnapError(
        "NOT_FOUND",
        `VolumeSnapshot ${namespace}/${name} disappeared while waiting for it`,
      );
    onSeen(vs);
    if (vs.status?.readyToUse === true) return vs;
    const message = vs.status?.error?.message;
    if (message) {
      errorSince ??= Date.now();
      if (Date.now() - errorSince >= grace) throw new VsnapError("FAILED_PRECONDITION", message);
    } else errorSince = undefined;
    if (Date.now() - started > timeout)
      throw new VsnapError(
        "TIMEOUT",
        `VolumeSnapshot ${namespace}/${name} was not ready after ${Math.round(timeout / 1000)}s${message ? ` (last error: ${message})` : ""}`,
        {
          hint: "check the CSI driver's snapshotter (kubectl describe volumesnapshot)",
        },
      );
    await sleep(poll, timings.signal);
  }
}

/** Aggregates per-volume outcomes as vCluster does ("%d out of %d volume snapshots have failed"). */
export function statusOf(
  records: readonly VolumeSnapshotRecord[],
  inProgress: ReadonlySet<string>,
): VolumeSnapshotsStatus {
  const snapshots: Record<string, VolumeSnapshotsStatus["snapshots"][string]> = {};
  let completed = 0;
  let failed = 0;
  let skipped = 0;
  for (const r of records) {
    if (inProgress.has(r.key)) continue;
    if (r.phase === "Completed") completed++;
    if (r.phase === "Failed") failed++;
    if (r.phase === "Skipped") skipped++;
    snapshots[r.key] = {
      phase: r.phase,
      ...(r.snapshotHandle ? { snapshotHandle: r.snapshotHandle } : {}),
      ...(r.csiDriver ? { csiDriver: r.csiDriver } : {}),
      ...(r.volumeSnapshotClassName ? { volumeSnapshotClassName: r.volumeSnapshotClassName } : {}),
      ...(r.restoreSize ? { restoreSize: r.restoreSize } : {}),
      ...(r.persistentVolumeClaim.spec ? { pvcSpec: r.persistentVolumeClaim.spec } : {}),
      ...(r.reason ? { error: { message: r.reason } } : {}),
    };
  }
  for (const key of inProgress) snapshots[key] = { phase: "InProgress" };
  const total = completed + failed + inProgress.size;
  const phase =
    inProgress.size > 0
      ? "InProgress"
      : total === 0
        ? "Skipped"
        : failed === 0
          ? "Completed"
          : completed === 0
            ? "Failed"
            : "PartiallyFailed";
  const error =
    phase === "PartiallyFailed"
      ? `${failed} out of ${total} volume snapshots have failed`
      : phase === "Failed"
        ? "all volume snapshots have failed"
        : undefined;
  return {
    phase,
    total,
    completed,
    failed,
    skipped,
    snapshots,
    ...(error ? { error: { message: error } } : {}),
  };
}
