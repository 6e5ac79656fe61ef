import type { Command, OptionSpec } from "../command.js";
import { usesLocalBacking } from "../local-backing.js";
import { STORE_FLAG_OPTIONS } from "../store-flags.js";

// Cluster mode loads @vsnap/kube (and the Kubernetes client) only when one of these commands runs.
const impl = () => import("../cluster-impl.js");

/** How cluster-mode commands reach the cluster, as kubectl spells them. */
export const KUBE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  namespace: {
    type: "string",
    short: "n",
    valueName: "NS",
    description: "the vCluster's namespace (default: search all namespaces)",
  },
  context: { type: "string", valueName: "NAME", description: "kubeconfig context to use" },
  kubeconfig: {
    type: "string",
    valueName: "FILE",
    description: "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)",
  },
};

const WAIT_OPTION: OptionSpec = {
  type: "boolean",
  description: "follow the request until it finishes; exit non-zero unless it succeeds",
};

export const snapshotCreateCluster: Command = {
  path: ["snapshot", "create"],
  summary: "Ask the vCluster's snapshot controller to take a snapshot (cluster mode)",
  usage: "vsnap snapshot create NAME URL [-n NS] [--context CTX] [--include-volumes] [--wait]",
  description:
    "Writes a snapshot request beside vCluster NAME: a ConfigMap with the URL (never credentials) and a\n" +
    "Secret with the store options. The vsnap controller running with the vCluster takes the snapshot;\n" +
    "follow it with `vsnap snapshot get NAME URL` (or --wait). Paused or sleeping vClusters are refused,\n" +
    "and so are vClusters whose data lives in an external database (back that database up directly).",
  options: {
    ...KUBE_OPTIONS,
    ...STORE_FLAG_OPTIONS,
    "include-volumes": { type: "boolean", description: "also snapshot the vCluster's CSI volumes" },
    "release-namespace": {
      type: "string",
      valueName: "NS",
      description: "where Helm keeps the release (Flux storageNamespace)",
    },
    wait: WAIT_OPTION,
  },
  examples: [
    'vsnap snapshot create my-vcluster "container:///data/my-snapshot.tar.gz"',
    'vsnap snapshot create my-vcluster "s3://my-bucket/vc/snap-1.tar.gz" --server-side-encryption AES256 -n team-a',
  ],
  arity: [2, 2],
  accepts: (_args, options) => !usesLocalBacking(options),
  run: async (ctx) => (await impl()).createSnapshot(ctx),
};

export const snapshotGetCluster: Command = {
  path: ["snapshot", "get"],
  summary: "Show a snapshot's status: its request in the cluster merged with what the store holds",
  usage: "vsnap snapshot get NAME URL [-n NS] [--context CTX] [-o json|yaml] [--watch]",
  options: {
    ...KUBE_OPTIONS,
    watch: { type: "boolean", short: "w", description: "keep printing changes until the request finishes" },
  },
  examples: ['vsnap snapshot get my-vcluster "container:///data/my-snapshot.tar.gz"'],
  arity: [2, 2],
  run: async (ctx) => (await impl()).getSnapshot(ctx),
};

export const snapshotListCluster: Command = {
  path: ["snapshot", "list"],
  summary: "List a vCluster's snapshot requests (and, with a URL prefix, what the store holds there)",
  usage: "vsnap snapshot list NAME [URL-PREFIX] [-n NS] [--context CTX] [-o json|yaml]",
  options: { ...KUBE_OPTIONS },
  examples: ["vsnap snapshot list my-vcluster", "vsnap snapshot list my-vcluster container:///data/"],
  arity: [1, 2],
  accepts: (args) => !args[0]!.includes("://"),
  run: async (ctx) => (await impl()).listSnapshots(ctx),
};

export const snapshotDeleteCluster: Command = {
  path: ["snapshot", "delete"],
  summary: "Ask the vCluster's snapshot controller to delete a stored snapshot (cluster mode)",
  usage: "vsnap snapshot delete NAME URL [-n NS] [--context CTX] [--wait]",
  options: { ...KUBE_OPTIONS, wait: WAIT_OPTION },
  examples: ['vsnap snapshot delete my-vcluster "container:///data/my-snapshot.tar.gz" --wait'],
  arity: [2, 2],
  accepts: (args) => !args[0]!.includes("://"),
  run: async (ctx) => (await impl()).deleteSnapshot(ctx),
};
