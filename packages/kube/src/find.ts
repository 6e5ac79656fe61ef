import type * as k8s from "@kubernetes/client-node";
import { VsnapError } from "@vsnap/core";
import { isNotFound, type Kube, kubeError } from "./client.js";

export type VClusterStatus = "Running" | "Paused" | "Sleeping" | "ScaledDown" | "Pending" | "Unknown";

export interface VCluster {
  readonly name: string;
  readonly namespace: string;
  readonly workload: {
    readonly kind: "StatefulSet" | "Deployment";
    readonly name: string;
    readonly uid?: string;
    readonly replicas: number;
    readonly readyReplicas: number;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  /** The syncer/control-plane image, e.g. ghcr.io/loft-sh/vcluster-pro:0.30.0. */
  readonly image?: string;
  /** The image tag when it looks like a version. */
  readonly version?: string;
  readonly status: VClusterStatus;
  /** Why the status is what it is (an annotation, a replica count, pod phases). */
  readonly statusReason: string;
}

export interface FindOptions {
  /** Look only here (`-n`); otherwise across every namespace the user may list. */
  readonly namespace?: string;
}

export const PAUSED_ANNOTATION = "loft.sh/paused";
export const SLEEP_MODE_LABEL = "loft.sh/sleep-mode";
export const SLEEP_TYPE_ANNOTATION = "sleepmode.loft.sh/sleep-type";
export const SLEEPING_SINCE_ANNOTATION = "sleepmode.loft.sh/sleeping-since";

export const configSecretName = (name: string) => `vc-config-${name}`;

/**
 * Finds the vCluster NAME the way `vcluster` does: its StatefulSet or Deployment is labelled
 * `app=vcluster,release=NAME`. Several in different namespaces is an error asking for `-n`.
 */
export async function findVCluster(kube: Kube, name: string, options: FindOptions = {}): Promise<VCluster> {
  const labelSelector = `app=vcluster,release=${name}`;
  const where = options.namespace ? `namespace "${options.namespace}"` : "any namespace";
  let workloads: { kind: "StatefulSet" | "Deployment"; object: k8s.V1StatefulSet | k8s.V1Deployment }[];
  try {
    const [sts, deploy] = options.namespace
      ? await Promise.all([
          kube.apps.listNamespacedStatefulSet({ namespace: options.namespace, labelSelector }),
          kube.apps.listNamespacedDeployment({ namespace: options.namespace, labelSelector }),
        ])
      : await Promise.all([
          kube.apps.listStatefulSetForAllNamespaces({ labelSelector }),
          kube.apps.listDeploymentForAllNamespaces({ labelSelector }),
        ]);
    workloads = [
      ...sts.items.map((object) => ({ kind: "StatefulSet" as const, object })),
      ...deploy.items.map((object) => ({ kind: "Deployment" as const, object })),
    ];
  } catch (error) {
    throw kubeError(error, `looking for vCluster "${name}" in ${where}`);
  }
  if (workloads.length === 0) {
    throw new VsnapError("NOT_FOUND", `vCluster "${name}" not found in ${where} of ${kube.display}`, {
      hint: `list vClusters with \`kubectl get statefulsets,deployments -A -l app=vcluster\`${options.namespace ? ", or drop -n to search every namespace" : ""}; --context picks another cluster`,
    });
  }
  const namespaces = [...new Set(workloads.map((w) => w.object.metadata?.namespace ?? ""))].sort();
  if (namespaces.length > 1) {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `multiple vClusters named "${name}" found (namespaces: ${namespaces.join(", ")})`,
      {
        hint: `choose one with -n, e.g. -n ${namespaces[0]}`,
      },
    );
  }
  const chosen = workloads[0]!;
  const namespace = namespaces[0]!;
  const meta = chosen.object.metadata ?? {};
  const containers = chosen.object.spec?.template.spec?.containers ?? [];
  const image = (containers.find((c) => c.name === "syncer") ?? containers[0])?.image;
  const tag = image?.includes("@") ? undefined : image?.split("/").pop()?.split(":")[1];
  const replicas = chosen.object.spec?.replicas ?? 1;
  const readyReplicas = chosen.object.status?.readyReplicas ?? 0;
  const base = {
    name,
    namespace,
    workload: {
      kind: chosen.kind,
      name: meta.name ?? name,
      ...(meta.uid ? { uid: meta.uid } : {}),
      replicas,
      readyReplicas,
      labels: meta.labels ?? {},
      annotations: meta.annotations ?? {},
    },
    ...(image ? { image } : {}),
    ...(tag && /^v?\d+\.\d+/.test(tag) ? { version: tag.replace(/^v/, "") } : {}),
  };
  const { status, statusReason } = await statusOf(kube, base);
  return { ...base, status, statusReason };
}

async function statusOf(
  kube: Kube,
  vc: Pick<VCluster, "name" | "namespace" | "workload">,
): Promise<{ status: VClusterStatus; statusReason: string }> {
  const { annotations, labels, replicas } = vc.workload;
  if (annotations[PAUSED_ANNOTATION] === "true")
    return {
      status: "Paused",
      statusReason: `annotation ${PAUSED_ANNOTATION}=true on ${vc.workload.kind} ${vc.workload.name}`,
    };
  if (labels[SLEEP_MODE_LABEL] === "true")
    return {
      status: "Paused",
      statusReason: `label ${SLEEP_MODE_LABEL}=true on ${vc.workload.kind} ${vc.workload.name}`,
    };
  const sleepMark = [SLEEP_TYPE_ANNOTATION, SLEEPING_SINCE_ANNOTATION].find(
    (a) => annotations[a] !== undefined,
  );
  if (sleepMark)
    return {
      status: "Sleeping",
      statusReason: `annotation ${sleepMark} on ${vc.workload.kind} ${vc.workload.name}`,
    };
  try {
    const secret = await kube.core.readNamespacedSecret({
      name: configSecretName(vc.name),
      namespace: vc.namespace,
    });
    const secretMark = [SLEEP_TYPE_ANNOTATION, SLEEPING_SINCE_ANNOTATION].find(
      (a) => secret.metadata?.annotations?.[a] !== undefined,
    );
    if (secretMark)
      return {
        status: "Sleeping",
        statusReason: `annotation ${secretMark}=${secret.metadata?.annotations?.[secretMark]} on Secret ${configSecretName(vc.name)}`,
      };
  } catch (error) {
    if (!isNotFound(error))
      throw kubeError(error, `reading Secret ${vc.namespace}/${configSecretName(vc.name)}`);
  }
  let pods: k8s.V1Pod[];
  try {
    pods = (
      await kube.core.listNamespacedPod({
        namespace: vc.namespace,
        labelSelector: `app=vcluster,release=${vc.name}`,
      })
    ).items;
  } catch (error) {
    throw kubeError(error, `listing the pods of vCluster "${vc.name}"`);
  }
  if (replicas === 0 && pods.length === 0)
    return {
      status: "ScaledDown",
      statusReason: `${vc.workload.kind} ${vc.workload.name} is scaled to 0 replicas`,
    };
  const ready = pods.filter(
    (p) =>
      p.status?.phase === "Running" &&
      (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
  );
  if (ready.length > 0)
    return { status: "Running", statusReason: `${ready.length}/${pods.length} pods ready` };
  if (pods.length > 0)
    return {
      status: "Pending",
      statusReason: `pods not ready: ${pods.map((p) => `${p.metadata?.name} ${p.status?.phase ?? "Unknown"}`).join(", ")}`,
    };
  return {
    status: "Unknown",
    statusReason: `${vc.workload.kind} ${vc.workload.name} wants ${replicas} replicas but has no pods`,
  };
}
