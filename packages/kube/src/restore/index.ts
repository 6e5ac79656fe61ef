export {
  type ClusterRestoreInput,
  type ClusterRestoreOutcome,
  DEFAULT_RESTORE_IMAGE,
  type DryRunPlan,
  type RestoreEvent,
  type RestoreFailure,
  type RestoreTimeouts,
  restoreVCluster,
  type UndoInput,
  undoRestore,
} from "./cluster-restore.js";
export {
  compactDiff,
  compareKeys,
  diffKeyValues,
  isCloneDropped,
  type KeyDiff,
  objectOf,
  resourceTypeOf,
  type TypeDiff,
} from "./diff.js";
export {
  deleteRestoreJob,
  type JobOutcome,
  RESTORE_JOB_LABEL,
  type RestoreJobInput,
  restoreJob,
  runRestoreJob,
  STORE_OPTIONS_ENV,
  STORE_OPTIONS_KEY,
  type WorkloadTemplate,
  workloadTemplate,
} from "./job.js";
export { decodeResult, encodeResult, RESULT_LIMIT, type RestoreDataResult } from "./protocol.js";
export {
  LOFT_PAUSED_DATE,
  LOFT_PAUSED_REPLICAS,
  LOFT_RESTORING,
  pauseForRestore,
  RESTORE_ANNOTATION,
  type RestorePhase,
  type RestoreState,
  readRestoreState,
  recordPhase,
  resumeAfterRestore,
  waitPodsGone,
} from "./state.js";
export {
  compareConfigs,
  DEFAULT_CHART_REPO,
  type HelmInstallPlan,
  helmInstallPlan,
  runHelm,
} from "./values.js";
