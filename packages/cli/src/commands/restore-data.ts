import type { Command } from "../command.js";

const impl = () => import("../restore-data/impl.js");

/** The restore Job's container command (also usable by hand in a debug pod with the data volume mounted). */
export const restoreDataCommand: Command = {
  path: ["restore-data"],
  summary:
    "Restore into a mounted vCluster data volume, keeping the old data until it worked (the restore Job runs this)",
  usage:
    "vsnap restore-data (--sqlite FILE | --etcd-data-dir DIR | --etcd-endpoints URLS --backup-dir DIR) --id ID [--dry-run | --rollback] [--new-vcluster] URL",
  description:
    "Runs where the vCluster's data is mounted, with the vCluster stopped. Verifies the archive, backs\n" +
    "the old data up under <backup dir>/.vsnap-restore-ID (an existing backup of the same ID is reused,\n" +
    "never overwritten), restores, and puts the old data back if anything fails. --rollback puts the\n" +
    "backup of restore ID back; --dry-run compares the live data with the archive and changes nothing.\n" +
    "The outcome is written as JSON to --result-file (the pod's termination message).",
  options: {
    sqlite: {
      type: "string",
      valueName: "FILE",
      description: "the kine SQLite database (vCluster: /data/state.db)",
    },
    "etcd-data-dir": {
      type: "string",
      valueName: "DIR",
      description: "an embedded etcd's data directory (vCluster: /data/etcd)",
    },
    "etcd-name": {
      type: "string",
      valueName: "NAME",
      description: "member name for a restored data directory (vCluster: NAME-0)",
    },
    "etcd-peer-url": {
      type: "string",
      valueName: "URL",
      description: "member peer URL for a db snapshot restored into a data directory",
    },
    "etcd-endpoints": {
      type: "string",
      valueName: "URLS",
      description: "a deployed or external etcd (comma-separated)",
    },
    "etcd-ca": { type: "string", valueName: "FILE", description: "etcd CA certificate" },
    "etcd-cert": { type: "string", valueName: "FILE", description: "etcd client certificate" },
    "etcd-key": { type: "string", valueName: "FILE", description: "etcd client key" },
    "backup-dir": {
      type: "string",
      valueName: "DIR",
      description: "where the old data is kept (default: beside it)",
    },
    id: { type: "string", valueName: "ID", description: "the restore's id: names its backup" },
    "dry-run": { type: "boolean", description: "compare the live data with the archive; change nothing" },
    rollback: { type: "boolean", description: "put the backup of restore ID back" },
    "new-vcluster": {
      type: "boolean",
      description: "leave out /vcluster/mappings/ and kube-root-ca.crt (restoring into another vCluster)",
    },
    "expect-sha256": {
      type: "string",
      valueName: "HEX",
      description: "refuse an archive whose digest differs (it changed since the CLI verified it)",
    },
    "options-env": {
      type: "string",
      valueName: "VAR",
      description: "environment variable with the store options JSON (credentials)",
    },
    "result-file": {
      type: "string",
      valueName: "FILE",
      description: "write the outcome as JSON here (e.g. /dev/termination-log)",
    },
    "keep-backup": {
      type: "boolean",
      description: "keep the backup of the old data after a successful restore",
    },
  },
  examples: [
    "vsnap restore-data --sqlite /data/state.db --id a1b2c container:///data/snap.tar.gz",
    "vsnap restore-data --sqlite /data/state.db --id a1b2c --rollback",
  ],
  arity: [0, 1],
  run: async (ctx) => (await impl()).restoreData(ctx),
};
