import type { Command } from "../command.js";
import { demo } from "./demo.js";
import { pluginsList } from "./plugins.js";
import { restoreLocal } from "./restore.js";
import { restoreCluster } from "./restore-cluster.js";
import { restoreDataCommand } from "./restore-data.js";
import {
  snapshotCreateCluster,
  snapshotDeleteCluster,
  snapshotGetCluster,
  snapshotListCluster,
} from "./snapshot-cluster.js";
import { snapshotCreateLocal } from "./snapshot-create.js";
import { snapshotDeleteLocal } from "./snapshot-delete.js";
import { snapshotListLocal } from "./snapshot-list.js";
import { snapshotVerify } from "./snapshot-verify.js";

/**
 * Every command variant. Cluster-mode variants (`snapshot create NAME URL`, ...) share paths
 * with the local ones; `accepts` decides which runs.
 */
export const COMMANDS: readonly Command[] = [
  snapshotCreateLocal,
  snapshotCreateCluster,
  snapshotGetCluster,
  snapshotVerify,
  snapshotListLocal,
  snapshotListCluster,
  snapshotDeleteLocal,
  snapshotDeleteCluster,
  restoreLocal,
  pluginsList,
  demo,
  restoreCluster,
  restoreDataCommand,
];
