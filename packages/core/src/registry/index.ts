export { type DiscoverOptions, type Discovery, discoverPlugins, resolvePackageDir } from "./discover.js";
export { loadPlugin, packageEntry } from "./load.js";
export {
  isPluginPackageName,
  PLUGIN_NAME_PATTERN,
  type PluginManifest,
  type PluginSource,
} from "./manifest.js";
export { type OpenedStore, PluginRegistry } from "./registry.js";
