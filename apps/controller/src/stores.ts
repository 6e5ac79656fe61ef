import { type OpenedStore, type ParsedLocation, type PluginRegistry, VsnapError } from "@vsnap/core";
import type { RequestOptions, SnapshotRequest } from "@vsnap/kube";

/**
 * Opens the store a request points at. The plugin is found by the URL's scheme in the registry
 * (never imported by name) and rebuilds its options, credentials included, from the Secret.
 */
export async function openRequestStore(
  registry: PluginRegistry,
  request: SnapshotRequest,
  options: RequestOptions,
  env: Readonly<Record<string, string | undefined>>,
): Promise<OpenedStore> {
  const plugin = await registry.plugin(options.scheme);
  if (plugin.name !== options.plugin) {
    throw new VsnapError(
      "PLUGIN",
      `the request was made with store plugin "${options.plugin}" but this controller serves ${options.scheme}:// with "${plugin.name}"`,
      {
        hint: `install the same plugin in the controller image (VSNAP_PLUGIN_DIR) as where vsnap ran`,
      },
    );
  }
  const location: ParsedLocation = {
    scheme: options.scheme,
    plugin: options.plugin,
    key: options.key,
    display: request.spec.display,
    publicUrl: request.spec.url,
    options: plugin.fromRequestOptions ? plugin.fromRequestOptions(options.options) : options.options,
  };
  return registry.open(location, { env });
}
