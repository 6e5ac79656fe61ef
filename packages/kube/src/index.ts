export { ageOf, humanDuration } from "./age.js";
export {
  apiMessage,
  connectKube,
  fromConfig,
  isConflict,
  isNotFound,
  type Kube,
  type KubeOptions,
  kubeError,
  statusCode,
} from "./client.js";
export {
  type ClusterRequestInput,
  type ClusterRequestResult,
  requestDeletion,
  requestSnapshot,
  type SnapshotRequestInput,
} from "./cluster-request.js";
export {
  type BackingStore,
  DEFAULT_SQLITE_FILE,
  describeBackingStore,
  detectBackingStore,
  type EtcdTlsFiles,
  maskDataSource,
  readVClusterConfig,
  VCLUSTER_ETCD_TLS,
  type VClusterConfig,
} from "./config.js";
export { EVENT_CONTROLLER, type RequestEvent, recordRequestEvent } from "./events.js";
export {
  configSecretName,
  type FindOptions,
  findVCluster,
  PAUSED_ANNOTATION,
  SLEEP_MODE_LABEL,
  SLEEP_TYPE_ANNOTATION,
  SLEEPING_SINCE_ANNOTATION,
  type VCluster,
  type VClusterStatus,
} from "./find.js";
export { assertRunning, assertSnapshottableStore } from "./guards.js";
export { decodeHelmRelease, getHelmRelease, type HelmReleaseRecord, type VClusterRelease } from "./helm.js";
export {
  type CreateRequestInput,
  compareRequests,
  createRequest,
  deleteRequest,
  deleteRequestOptions,
  fromConfigMap,
  getRequest,
  isTerminal,
  listRequests,
  mergePatch,
  OPTIONS_KEY,
  REQUEST_KEY,
  REQUEST_LABEL,
  type RequestLease,
  type RequestOptions,
  type RequestPhase,
  type RequestProgress,
  type RequestResult,
  readRequestOptions,
  requestLabels,
  type SnapshotRequest,
  type StatusUpdate,
  type StoredRequest,
  TERMINAL_PHASES,
  updateRequestStatus,
  VCLUSTER_NAME_LABEL,
  VCLUSTER_NAMESPACE_LABEL,
} from "./requests.js";
export * from "./restore/index.js";
export * from "./volumes/index.js";
