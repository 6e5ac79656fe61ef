import type * as k8s from "@kubernetes/client-node";

/** vCluster labels its synced host PVCs with the vCluster's name. */
export const MANAGED_BY_LABEL = "vcluster.loft.sh/managed-by";
/** PVC label choosing the VolumeSnapshotClass (vCluster's label, so existing setups keep working). */
export const SNAPSHOT_CLASS_LABEL = "vcluster.loft.sh/csi-volumesnapshot-class";
/** vCluster's annotations on a synced host object naming the virtual one. */
export const VIRTUAL_NAME_ANNOTATION = "vcluster.loft.sh/object-name";
export const VIRTUAL_NAMESPACE_ANNOTATION = "vcluster.loft.sh/object-namespace";
export const DEFAULT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class";

/** Labels on the Kubernetes objects vsnap creates for volumes (all of them are deleted when done). */
export const VOLUME_REQUEST_LABEL = "vsnap.dev/volume-snapshot-request";
export const VOLUME_RESTORE_LABEL = "vsnap.dev/volume-restore";
export const VOLUME_DELETE_LABEL = "vsnap.dev/volume-delete";
export const VOLUME_PVC_LABEL = "vsnap.dev/persistentvolumeclaim";

export type VolumePhase = "Completed" | "Failed" | "Skipped";

/**
 * What a snapshot records about one PVC (the archive's volumes entry, one per PVC). Only
 * `Completed` ones have a backend snapshot; the others say why not. The backend snapshot outlives
 * every Kubernetes object (content deletionPolicy Retain), so `snapshotHandle` is the only link
 * to it: deleting the snapshot deletes it through that handle.
 */
// a type alias, not an interface: core's ArchiveMetadata.volumes takes plain records
export type VolumeSnapshotRecord = {
  /** The host PVC as it was, sanitised (no status, managedFields, binding annotations). */
  readonly persistentVolumeClaim: k8s.V1PersistentVolumeClaim;
  /** `<namespace>/<name>` of the host PVC. */
  readonly key: string;
  /** The PVC inside the virtual cluster, when vCluster's annotations say. */
  readonly virtual?: { readonly namespace: string; readonly name: string };
  readonly phase: VolumePhase;
  readonly csiDriver?: string;
  readonly volumeSnapshotClassName?: string;
  readonly snapshotHandle?: string;
  /** The snapshot's size as the driver reported it (a quantity, e.g. "2Gi"). */
  readonly restoreSize?: string;
  readonly sourceVolumeMode?: string;
  /** Why it failed, or why it was skipped. */
  readonly reason?: string;
  readonly completedAt?: string;
};

export type VolumesPhase = "InProgress" | "Completed" | "PartiallyFailed" | "Failed" | "Skipped";

/** The request's `status.volumeSnapshots` (vCluster's shape, plus counts). */
export interface VolumeSnapshotsStatus {
  readonly phase: VolumesPhase;
  /** Volumes attempted (completed + failed + in progress); skipped ones are not counted. */
  readonly total: number;
  readonly completed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly snapshots: Readonly<
    Record<
      string,
      {
        readonly phase: VolumePhase | "InProgress";
        readonly snapshotHandle?: string;
        readonly csiDriver?: string;
        readonly volumeSnapshotClassName?: string;
        readonly restoreSize?: string;
        /** The PVC's spec as recorded (sanitised), so the request alone says what a restore re-creates. */
        readonly pvcSpec?: import("@kubernetes/client-node").V1PersistentVolumeClaimSpec;
        readonly error?: { readonly message: string };
      }
    >
  >;
  readonly error?: { readonly message: string };
}

/** `completed/total`, as `snapshot get` shows it. */
export function volumesSummary(status: Pick<VolumeSnapshotsStatus, "completed" | "total">): string {
  return `${status.completed}/${status.total}`;
}
