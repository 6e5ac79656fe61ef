import { VsnapError } from "@vsnap/core";
import { type BackingStore, describeBackingStore } from "./config.js";
import type { VCluster } from "./find.js";

/**
 * Refuses a vCluster that is not serving: a snapshot of a paused or sleeping control plane would
 * need it woken first, and one that is scaled down has no controller to take the request.
 */
export function assertRunning(vc: VCluster): void {
  if (vc.status === "Running") return;
  const ns = `-n ${vc.namespace}`;
  const hints: Record<Exclude<VCluster["status"], "Running">, string> = {
    Paused: `resume it first (\`vcluster resume ${vc.name} ${ns}\`, or remove the loft.sh/paused annotation and scale it up), then retry`,
    Sleeping: `wake it first (\`vcluster resume ${vc.name} ${ns}\`, or connect to it so sleep mode wakes it), then retry`,
    ScaledDown: `scale it up first: \`kubectl scale ${vc.workload.kind.toLowerCase()} ${vc.workload.name} ${ns} --replicas=1\``,
    Pending: "wait until its control plane pod is Ready, then retry",
    Unknown: `check its pods: \`kubectl get pods ${ns} -l app=vcluster,release=${vc.name}\``,
  };
  throw new VsnapError(
    "FAILED_PRECONDITION",
    `cannot snapshot vCluster "${vc.name}" because it is not running (current status: "${vc.status}": ${vc.statusReason})`,
    { hint: hints[vc.status] },
  );
}

/** An external database lives outside the vCluster: vsnap cannot take a consistent copy of it. */
export function assertSnapshottableStore(vc: Pick<VCluster, "name">, store: BackingStore): void {
  if (store.type !== "external-database") return;
  throw new VsnapError(
    "UNSUPPORTED",
    `vCluster "${vc.name}" keeps its data in an ${describeBackingStore(store)}: back up the database itself; vsnap cannot`,
    {
      hint: `use the database's own backup (e.g. ${store.driver === "postgres" || store.driver === "postgresql" ? "pg_dump" : "mysqldump"} or a managed snapshot); vsnap snapshots embedded SQLite and etcd backing stores`,
    },
  );
}
