export {
  objectName,
  SNAPSHOT_API_VERSION,
  SNAPSHOT_GROUP,
  SnapshotApi,
  type VolumeSnapshot,
  type VolumeSnapshotClass,
  type VolumeSnapshotContent,
} from "./api.js";
export { type DeleteVolumesInput, deleteVolumeSnapshots, type VolumeDeleteResult } from "./delete.js";
export {
  deleteArchiveVolumes,
  readArchiveVolumes,
  snapshotRequestVolumes,
  volumesOutcome,
  volumeTimingsFromEnv,
} from "./hook.js";
export {
  RESTORED_FROM_ANNOTATION,
  type RestoreVolumesInput,
  restoreVolumes,
  type VolumeRestoreResult,
  type VolumeTarget,
  warnOn,
} from "./restore.js";
export {
  type SnapshotVolumesInput,
  type SnapshotVolumesResult,
  sanitisePvc,
  snapshotVolumes,
  statusOf as volumeSnapshotsStatus,
  type VolumeTimings,
  waitReady,
} from "./snapshot.js";
export {
  DEFAULT_CLASS_ANNOTATION,
  MANAGED_BY_LABEL,
  SNAPSHOT_CLASS_LABEL,
  VIRTUAL_NAME_ANNOTATION,
  VIRTUAL_NAMESPACE_ANNOTATION,
  VOLUME_DELETE_LABEL,
  VOLUME_PVC_LABEL,
  VOLUME_REQUEST_LABEL,
  VOLUME_RESTORE_LABEL,
  type VolumePhase,
  type VolumeSnapshotRecord,
  type VolumeSnapshotsStatus,
  type VolumesPhase,
  volumesSummary,
} from "./types.js";
