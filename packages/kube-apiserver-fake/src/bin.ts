#!/usr/bin/env node
import { parseArgs } from "node:util";
import { startTestCluster } from "./cluster.js";

// Starts a real etcd and the test API server, prints the kubeconfig path, runs until SIGINT/SIGTERM.
const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    verbose: { type: "boolean", short: "v", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  process.stdout.write(
    "usage: vsnap-fake-apiserver [--port N] [-v]\n  Starts etcd + the vsnap test Kubernetes API server and prints KUBECONFIG=<path>.\n",
  );
  process.exit(0);
}
const cluster = await startTestCluster({
  port: Number(values.port),
  ...(values.verbose ? { log: (m: string) => process.stderr.write(`${m}\n`) } : {}),
});
process.stdout.write(
  `API server ${cluster.api.url} (etcd ${cluster.etcd.endpoint})\nKUBECONFIG=${cluster.kubeconfigPath}\n`,
);
let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  await cluster.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
