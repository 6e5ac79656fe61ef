export {
  DEFAULT_DEMO_KEYS,
  type DemoCluster,
  type DemoClusterOptions,
  type DemoClusterStats,
  demoClusterStats,
  demoResourceOf,
  generateDemoCluster,
} from "./generate.js";
