export { workloadController } from "./controllers/workloads.js";
export { startTestCluster, type TestCluster, type TestClusterOptions } from "./cluster.js";
export { ApiError, type StatusObject } from "./errors.js";
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
export { ObjectStore, type WatchEvent } from "./store.js";
export { humanDuration } from "./table.js";
export { createFakeVCluster, encodeHelmRelease, type FakeVClusterSpec } from "./fixtures.js";
