import type { Command } from "../command.js";
import { usesLocalBacking } from "../local-backing.js";
import { STORE_FLAG_OPTIONS } from "../store-flags.js";
import { KUBE_OPTIONS } from "./snapshot-cluster.js";

const impl = () => import("../restore-cluster-impl.js");

export const restoreCluster: Command = {
  path: ["restore"],
  summary: "Restore a vCluster from a snapshot (cluster mode)",
  usage:
    "vsnap restore NAME URL [-n NS] [--dry-run] [--include-volumes] [--new-vcluster [--install]] | vsnap restore NAME --undo",
  description:
    "Verifies the whole archive before touching the cluster. Then records the replica count and scales the\n" +
    "vCluster to 0 (annotated, so an interrupted restore can be resumed or undone), waits for its pods to\n" +
    "stop, restores the backing store with a Job that mounts the vCluster's data (the old data is kept until\n" +
    "the restore succeeded, and put back if it fails), restores CSI volumes with --include-volumes, and\n" +
    "scales back up. --dry-run shows what would change (keys per resource type, Helm release, vcluster.yaml,\n" +
    "volumes) without changing anything. Running it again after an interruption continues the same restore.",
  options: {
    ...KUBE_OPTIONS,
    ...STORE_FLAG_OPTIONS,
    "dry-run": { type: "boolean", description: "show what would change; change nothing" },
    "include-volumes": {
      type: "boolean",
      description: "also restore the CSI volumes recorded in the snapshot",
    },
    "new-vcluster": {
      type: "boolean",
      description: "restore into a vCluster other than the one snapshotted (other name/namespace)",
    },
    install: {
      type: "boolean",
      description: "with --new-vcluster: create the missing vCluster with helm from the snapshot's values",
    },
    undo: { type: "boolean", description: "put back the data an unfinished restore replaced, and resume" },
    image: {
      type: "string",
      valueName: "IMAGE",
      description: "image of the restore Job (default: vsnap's, $VSNAP_RESTORE_IMAGE)",
    },
    "etcd-endpoints": {
      type: "string",
      valueName: "URLS",
      description: "reach a deployed/external etcd here (default: from its vcluster.yaml)",
    },
    timeout: {
      type: "string",
      valueName: "DURATION",
      description: "limit for the restore Job (default 30m)",
    },
  },
  examples: [
    'vsnap restore my-vcluster "container:///data/my-snapshot.tar.gz" --dry-run',
    'vsnap restore my-vcluster "s3://my-bucket/vc/snap-1.tar.gz" -n team-a --include-volumes',
    'vsnap restore my-clone "oci://ghcr.io/me/snaps:nightly" -n team-b --new-vcluster --install',
    "vsnap restore my-vcluster --undo -n team-a",
  ],
  arity: [1, 2],
  accepts: (args, options) =>
    !usesLocalBacking(options) && !args[0]!.includes("://") && (args.length === 2 || options.undo === true),
  run: async (ctx) => (await impl()).restoreClusterCommand(ctx),
};
