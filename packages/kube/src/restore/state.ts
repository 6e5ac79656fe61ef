import type * as k8s from "@kubernetes/client-node";
import { VsnapError } from "@vsnap/core";
import { type Kube, kubeError } from "../client.js";
import type { VCluster } from "../find.js";
import { mergePatch } from "../requests.js";
import { sleep } from "../volumes/api.js";

/** vsnap's record of a restore in progress, on the vCluster's StatefulSet/Deployment. */
export const RESTORE_ANNOTATION = "vsnap.dev/restore";
/** vCluster's own pause-for-restore annotations, so `vcluster resume` also understands the state. */
export const LOFT_RESTORING = "loft.sh/restoring";
export const LOFT_PAUSED_REPLICAS = "loft.sh/paused-replicas";
export const LOFT_PAUSED_DATE = "loft.sh/paused-date";

export type RestorePhase =
  | "Pausing"
  | "Restoring"
  | "RollingBack"
  | "RestoringVolumes"
  | "Resuming"
  | "RollbackFailed";

/** Enough to resume or undo an interrupted restore. */
export interface RestoreState {
  readonly id: string;
  /** The snapshot URL without credentials, and as shown to people. */
  readonly url: string;
  readonly display: string;
  readonly phase: RestorePhase;
  /** Replicas before the restore paused the vCluster. */
  readonly replicas: number;
  readonly startedAt: string;
  readonly backingStore: string;
  readonly newVCluster?: boolean;
  readonly includeVolumes?: boolean;
  /** The last thing that went wrong. */
  readonly message?: string;
}

export function readRestoreState(vc: Pick<VCluster, "workload">): RestoreState | undefined {
  const raw = vc.workload.annotations[RESTORE_ANNOTATION];
  if (!raw) return undefined;
  try {
    const state = JSON.parse(raw) as RestoreState;
    return typeof state.id === "string" && typeof state.replicas === "number" ? state : undefined;
  } catch {
    return undefined;
  }
}

async function patchWorkload(
  kube: Kube,
  vc: Pick<VCluster, "namespace" | "workload">,
  body: object,
  doing: string,
): Promise<void> {
  const { kind, name } = vc.workload;
  try {
    if (kind === "StatefulSet")
      await kube.apps.patchNamespacedStatefulSet({ name, namespace: vc.namespace, body }, mergePatch());
    else await kube.apps.patchNamespacedDeployment({ name, namespace: vc.namespace, body }, mergePatch());
  } catch (error) {
    throw kubeError(error, `${doing} ${kind} ${vc.namespace}/${name}`);
  }
}

/**
 * Records the restore and scales the vCluster to zero in one write: whatever interrupts the
 * restore afterwards, the workload says what was going on and how many replicas to give back.
 */
export async function pauseForRestore(
  kube: Kube,
  vc: Pick<VCluster, "namespace" | "workload">,
  state: RestoreState,
): Promise<void> {
  await patchWorkload(
    kube,
    vc,
    {
      metadata: {
        annotations: {
          [RESTORE_ANNOTATION]: JSON.stringify(state),
          [LOFT_RESTORING]: "true",
          [LOFT_PAUSED_REPLICAS]: String(state.replicas),
          [LOFT_PAUSED_DATE]: state.startedAt,
        },
      },
      spec: { replicas: 0 },
    },
    "pausing",
  );
}

export async function recordPhase(
  kube: Kube,
  vc: Pick<VCluster, "namespace" | "workload">,
  state: RestoreState,
): Promise<void> {
  await patchWorkload(
    kube,
    vc,
    { metadata: { annotations: { [RESTORE_ANNOTATION]: JSON.stringify(state) } } },
    "recording the restore on",
  );
}

/** Gives the replicas back and removes the restore's annotations. */
export async function resumeAfterRestore(
  kube: Kube,
  vc: Pick<VCluster, "namespace" | "workload">,
  replicas: number,
): Promise<void> {
  await patchWorkload(
    kube,
    vc,
    {
      metadata: {
        annotations: {
          [RESTORE_ANNOTATION]: null,
          [LOFT_RESTORING]: null,
          [LOFT_PAUSED_REPLICAS]: null,
          [LOFT_PAUSED_DATE]: null,
        },
      },
      spec: { replicas },
    },
    "resuming",
  );
}

const podSelector = (vc: Pick<VCluster, "name">) => `app=vcluster,release=${vc.name}`;

/** Waits until no pod of the vCluster is left (they hold its data open). */
export async function waitPodsGone(
  kube: Kube,
  vc: Pick<VCluster, "name" | "namespace">,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const started = Date.now();
  for (;;) {
    let pods: k8s.V1Pod[];
    try {
      pods = (await kube.core.listNamespacedPod({ namespace: vc.namespace, labelSelector: podSelector(vc) }))
        .items;
    } catch (error) {
      throw kubeError(error, `listing the pods of vCluster "${vc.name}"`);
    }
    if (pods.length === 0) return;
    if (Date.now() - started > timeoutMs)
      throw new VsnapError(
        "TIMEOUT",
        `the pods of vCluster "${vc.name}" did not stop within ${Math.round(timeoutMs / 1000)}s: ${pods.map((p) => p.metadata?.name).join(", ")}`,
        {
          hint: `check them with \`kubectl get pods -n ${vc.namespace} -l ${podSelector(vc)}\`; nothing was restored yet`,
        },
      );
    await sleep(250, signal);
  }
}

/** Waits until `replicas` pods of the vCluster are Running and Ready; false on timeout. */
export async function waitReady(
  kube: Kube,
  vc: Pick<VCluster, "name" | "namespace">,
  replicas: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  if (replicas === 0) return true;
  const started = Date.now();
  for (;;) {
    const pods = (
      await kube.core
        .listNamespacedPod({ namespace: vc.namespace, labelSelector: podSelector(vc) })
        .catch(() => ({ items: [] as k8s.V1Pod[] }))
    ).items;
    const ready = pods.filter(
      (p) =>
        p.status?.phase === "Running" &&
        (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    );
    if (ready.length >= replicas) return true;
    if (Date.now() - started > timeoutMs) return false;
    await sleep(250, signal);
  }
}
