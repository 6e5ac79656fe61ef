// The controller process: settings, cluster connection, plugins, and the loop until SIGTERM/SIGINT.
import { PluginRegistry, redact, VsnapError } from "@vsnap/core";
import { connectKube } from "@vsnap/kube";
import { SnapshotController } from "./controller.js";
import { consoleLogger } from "./log.js";
import { parseSettings, USAGE } from "./settings.js";

const log = consoleLogger();
try {
  const settings = parseSettings(process.argv.slice(2), process.env);
  if (settings === "help") {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const kube = connectKube({
    ...(settings.kubeconfig ? { kubeconfig: settings.kubeconfig } : {}),
    ...(settings.context ? { context: settings.context } : {}),
  });
  // store plugins: the controller's own dependencies, VSNAP_PLUGIN_DIR, VSNAP_PLUGINS
  const registry = PluginRegistry.discover({ hostUrl: import.meta.url, env: process.env });
  for (const problem of registry.problems) log.warn(`plugin: ${problem}`);
  const controller = new SnapshotController({ settings, kube, registry, log, env: process.env });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    controller
      .stop()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  await controller.start();
} catch (error) {
  const e = VsnapError.wrap(error, "INTERNAL");
  log.error(redact(`${e.message}${e.hint ? ` (${e.hint})` : ""}`));
  process.exit(2);
}
