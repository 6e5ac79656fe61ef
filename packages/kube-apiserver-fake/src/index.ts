export { startTestCluster, type TestCluster, type TestClusterOptions } from "./cluster.js";
export {
  type CsiControllerOptions,
  csiController,
  DEFAULT_CLASS_ANNOTATION,
  FAIL_SNAPSHOT_ANNOTATION,
  FAKE_CSI_DRIVER,
  VOLUME_DATA_ANNOTATION,
} from "./controllers/csi.js";
export {
  FAULTS_CONFIGMAP,
  type JobControllerOptions,
  jobController,
  POD_LOG_ANNOTATION,
  rewritePaths,
} from "./controllers/jobs.js";
export { workloadController } from "./controllers/workloads.js";
export { ApiError, type StatusObject } from "./errors.js";
export { createFakeVCluster, encodeHelmRelease, type FakeVClusterSpec } from "./fixtures.js";
export { applyPatch, jsonPatch, mergePatch, strategicMergePatch } from "./patch.js";
export {
  apiVersionOf,
  BUILTIN_RESOURCES,
  customResource,
  ResourceRegistry,
  type ResourceType,
  type TableColumn,
} from "./resources.js";
export type { KubeObject, ObjectMeta } from "./selectors.js";
export { parseFieldSelector, parseLabelSelector } from "./selectors.js";
export {
  type ControllerContext,
  type FakeApiServer,
  type FakeApiServerOptions,
  kubeconfigYaml,
  type SimulatedController,
  startFakeApiServer,
} from "./server.js";
export {
  BACKEND_SNAPSHOT,
  FAKE_CSI_GROUP,
  JOB,
  SNAPSHOT_GROUP,
  STORAGE_CLASS,
  STORAGE_RESOURCES,
  storageResourceRegistry,
  VOLUME_SNAPSHOT,
  VOLUME_SNAPSHOT_CLASS,
  VOLUME_SNAPSHOT_CONTENT,
} from "./storage-resources.js";
export { ObjectStore, type WatchEvent } from "./store.js";
export { humanDuration } from "./table.js";
