import * as k8s from "@kubernetes/client-node";
import { VsnapError } from "@vsnap/core";
import { isNotFound, type Kube, kubeError } from "../client.js";
import type { VCluster } from "../find.js";
import { mergePatch } from "../requests.js";
import { sleep } from "../volumes/api.js";
import { decodeResult, type RestoreDataResult } from "./protocol.js";

export const RESTORE_JOB_LABEL = "vsnap.dev/restore-id";
export const STORE_OPTIONS_ENV = "VSNAP_STORE_OPTIONS";
export const STORE_OPTIONS_KEY = "storeOptions";
const TERMINATION_LOG = "/dev/termination-log";

/** The pod template of the vCluster's workload, and how its data volume is reached. */
export interface WorkloadTemplate {
  readonly podSpec: k8s.V1PodSpec;
  /** The syncer (control plane) container: its mounts are what the restore container gets. */
  readonly syncer?: k8s.V1Container;
  /** The volume behind the data directory (`data`), when the vCluster has one. */
  readonly dataVolume?: k8s.V1Volume;
  /** Where the syncer mounts it (vCluster: /data). */
  readonly dataMountPath?: string;
  /** The data volume is a PVC (survives the pod); an emptyDir data dir cannot be restored into. */
  readonly persistent: boolean;
}

/**
 * Reads the workload's pod template the way vCluster's snapshot pod does (pkg/snapshot/pod):
 * volumes, mounts, scheduling and security are cloned, and a StatefulSet's `data` claim template
 * becomes the PVC `data-<sts>-0`.
 */
export async function workloadTemplate(
  kube: Kube,
  vc: Pick<VCluster, "namespace" | "workload">,
): Promise<WorkloadTemplate> {
  let object: k8s.V1StatefulSet | k8s.V1Deployment;
  try {
    object =
      vc.workload.kind === "StatefulSet"
        ? await kube.apps.readNamespacedStatefulSet({ name: vc.workload.name, namespace: vc.namespace })
        : await kube.apps.readNamespacedDeployment({ name: vc.workload.name, namespace: vc.namespace });
  } catch (error) {
    throw kubeError(error, `reading ${vc.workload.kind} ${vc.namespace}/${vc.workload.name}`);
  }
  const podSpec = structuredClone(object.spec?.template.spec ?? { containers: [] });
  const syncer = podSpec.containers.find((c) => c.name === "syncer") ?? podSpec.containers[0];
  const mount =
    syncer?.volumeMounts?.find((m) => m.name === "data") ??
    syncer?.volumeMounts?.find((m) => m.mountPath === "/data");
  let dataVolume = podSpec.volumes?.find((v) => v.name === (mount?.name ?? "data"));
  const claimTemplate = (object as k8s.V1StatefulSet).spec?.volumeClaimTemplates?.find(
    (t) => t.metadata?.name === (mount?.name ?? "data"),
  );
  if (!dataVolume && claimTemplate) {
    dataVolume = {
      name: claimTemplate.metadata?.name ?? "data",
      persistentVolumeClaim: { claimName: `${claimTemplate.metadata?.name}-${vc.workload.name}-0` },
    };
  }
  return {
    podSpec,
    ...(syncer ? { syncer } : {}),
    ...(dataVolume ? { dataVolume } : {}),
    dataMountPath: mount?.mountPath ?? "/data",
    persistent: !!dataVolume?.persistentVolumeClaim,
  };
}

export interface RestoreJobInput {
  readonly vcluster: Pick<VCluster, "name" | "namespace">;
  readonly template: WorkloadTemplate;
  readonly name: string;
  readonly restoreId: string;
  readonly image: string;
  /** `vsnap restore-data` arguments. */
  readonly args: readonly string[];
  /** The Secret holding the store options (env VSNAP_STORE_OPTIONS). */
  readonly optionsSecret?: string;
  /** An emptyDir for the backup at this path (live etcd with no data volume). */
  readonly scratchMount?: string;
  readonly activeDeadlineSeconds: number;
}

/** The Job whose container runs `vsnap restore-data ...` with the vCluster's volumes mounted. */
export function restoreJob(input: RestoreJobInput): k8s.V1Job {
  const { template } = input;
  const spec = template.podSpec;
  const volumes = [...(spec.volumes ?? [])];
  if (template.dataVolume && !volumes.some((v) => v.name === template.dataVolume?.name))
    volumes.push(template.dataVolume);
  const mounts = [...(template.syncer?.volumeMounts ?? [])];
  if (template.dataVolume && !mounts.some((m) => m.name === template.dataVolume?.name))
    mounts.push({ name: template.dataVolume.name, mountPath: template.dataMountPath ?? "/data" });
  if (input.scratchMount) {
    volumes.push({ name: "vsnap-scratch", emptyDir: {} });
    mounts.push({ name: "vsnap-scratch", mountPath: input.scratchMount });
  }
  const labels = { app: "vsnap-restore", release: input.vcluster.name, [RESTORE_JOB_LABEL]: input.restoreId };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: input.name, namespace: input.vcluster.namespace, labels },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: input.activeDeadlineSeconds,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: "Never",
          terminationGracePeriodSeconds: 1,
          ...(spec.serviceAccountName ? { serviceAccountName: spec.serviceAccountName } : {}),
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.affinity ? { affinity: spec.affinity } : {}),
          ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
          ...(spec.securityContext ? { securityContext: spec.securityContext } : {}),
          ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets } : {}),
          volumes,
          containers: [
            {
              name: "restore",
              image: input.image,
              command: ["vsnap", "restore-data", ...input.args, "--result-file", TERMINATION_LOG],
              ...(input.optionsSecret
                ? {
                    env: [
                      {
                        name: STORE_OPTIONS_ENV,
                        valueFrom: { secretKeyRef: { name: input.optionsSecret, key: STORE_OPTIONS_KEY } },
                      },
                    ],
                  }
                : {}),
              volumeMounts: mounts,
              terminationMessagePath: TERMINATION_LOG,
              terminationMessagePolicy: "FallbackToLogsOnError",
              ...(template.syncer?.securityContext
                ? { securityContext: template.syncer.securityContext }
                : {}),
            },
          ],
        },
      },
    },
  };
}

export interface JobOutcome {
  readonly succeeded: boolean;
  /** What the container reported (when it got that far). */
  readonly result?: RestoreDataResult;
  /** Why it failed, in Kubernetes' words (exit code, OOMKilled, deadline, ...). */
  readonly reason: string;
  readonly exitCode?: number;
  readonly pod?: string;
}

/** Creates the Job (and its options Secret, owned by the Job), waits for it, and reads the outcome. */
export async function runRestoreJob(
  kube: Kube,
  job: k8s.V1Job,
  options: {
    secret?: { name: string; data: string };
    timeoutMs: number;
    signal?: AbortSignal;
    onRunning?: (pod: string) => void;
  },
): Promise<JobOutcome> {
  const namespace = job.metadata?.namespace ?? "";
  const name = job.metadata?.name ?? "";
  const batch = kube.config.makeApiClient(k8s.BatchV1Api);
  // an interrupted run of this restore may have left its Job (maybe still running): two
  // restores must never write the same data at once, so it goes, pods and all, first
  await removeStaleJob(kube, namespace, name, options.secret?.name, options.signal);
  if (options.secret) {
    try {
      await kube.core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: options.secret.name, labels: job.metadata?.labels ?? {} },
          type: "Opaque",
          data: { [STORE_OPTIONS_KEY]: Buffer.from(options.secret.data).toString("base64") },
        },
      });
    } catch (error) {
      throw kubeError(error, `creating Secret ${namespace}/${options.secret.name} for the restore Job`);
    }
  }
  let created: k8s.V1Job;
  try {
    created = await batch.createNamespacedJob({ namespace, body: job });
  } catch (error) {
    if (options.secret)
      await kube.core.deleteNamespacedSecret({ name: options.secret.name, namespace }).catch(() => {});
    throw kubeError(error, `creating restore Job ${namespace}/${name}`);
  }
  if (options.secret)
    await kube.core
      .patchNamespacedSecret(
        {
          name: options.secret.name,
          namespace,
          body: {
            metadata: {
              ownerReferences: [
                {
                  apiVersion: "batch/v1",
                  kind: "Job",
                  name,
                  uid: created.metadata?.uid ?? "",
                  blockOwnerDeletion: false,
                },
              ],
            },
          },
        },
        mergePatch(),
      )
      .catch(() => {});
  const started = Date.now();
  let announced = false;
  for (;;) {
    const current = await batch.readNamespacedJob({ name, namespace }).catch((error: unknown) => {
      if (isNotFound(error))
        throw new VsnapError("NOT_FOUND", `restore Job ${namespace}/${name} was deleted while it ran`);
      throw kubeError(error, `reading restore Job ${namespace}/${name}`);
    });
    const done = (current.status?.conditions ?? []).find(
      (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
    );
    if (!announced && (current.status?.active ?? 0) > 0) {
      const pod = await latestPod(kube, namespace, current);
      if (pod?.status?.phase === "Running") {
        announced = true;
        options.onRunning?.(pod.metadata?.name ?? "");
      }
    }
    if (done) {
      const pod = await latestPod(kube, namespace, current);
      const terminated = pod?.status?.containerStatuses?.[0]?.state?.terminated;
      const result = decodeResult(terminated?.message);
      const why =
        done.type === "Complete"
          ? "completed"
          : [
              terminated
                ? `exit code ${terminated.exitCode}${exitMeaning(terminated.exitCode, terminated.reason)}`
                : undefined,
              done.reason === "DeadlineExceeded" ? "it ran longer than its deadline" : undefined,
              !result && terminated?.message
                ? `last output: ${terminated.message.trim().split("\n").slice(-1)[0]}`
                : undefined,
            ]
              .filter(Boolean)
              .join("; ") || `${done.reason ?? "failed"}: ${done.message ?? ""}`;
      return {
        succeeded: done.type === "Complete",
        ...(result ? { result } : {}),
        reason: why,
        ...(terminated ? { exitCode: terminated.exitCode } : {}),
        ...(pod?.metadata?.name ? { pod: pod.metadata.name } : {}),
      };
    }
    if (Date.now() - started > options.timeoutMs) {
      const pod = await latestPod(kube, namespace, current);
      const waiting = pod?.status?.conditions?.find((c) => c.status === "False" && c.message)?.message;
      throw new VsnapError(
        "TIMEOUT",
        `restore Job ${namespace}/${name} did not finish within ${Math.round(options.timeoutMs / 1000)}s${waiting ? ` (${waiting})` : ""}`,
        {
          hint: `kubectl describe job -n ${namespace} ${name}`,
        },
      );
    }
    await sleep(300, options.signal);
  }
}

/** What a container's exit says about why it stopped. */
function exitMeaning(code: number, reason: string | undefined): string {
  if (reason === "OOMKilled") return " (OOMKilled: out of memory)";
  if (code === 137) return " (killed: out of memory, evicted, or its node went away)";
  if (reason && reason !== "Error" && reason !== "Completed") return ` (${reason})`;
  return "";
}

async function latestPod(kube: Kube, namespace: string, job: k8s.V1Job): Promise<k8s.V1Pod | undefined> {
  const pods = (
    await kube.core
      .listNamespacedPod({ namespace, labelSelector: `job-name=${job.metadata?.name}` })
      .catch(() => ({ items: [] as k8s.V1Pod[] }))
  ).items;
  return pods
    .sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? "").localeCompare(String(b.metadata?.creationTimestamp ?? "")),
    )
    .pop();
}

/** Deletes a Job (and its Secret) and waits until its pods are gone: no writer may be left. */
export async function removeStaleJob(
  kube: Kube,
  namespace: string,
  name: string,
  secret: string | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const batch = kube.config.makeApiClient(k8s.BatchV1Api);
  const existing = await batch.readNamespacedJob({ name, namespace }).catch(() => undefined);
  const pods = async () =>
    (
      await kube.core
        .listNamespacedPod({ namespace, labelSelector: `job-name=${name}` })
        .catch(() => ({ items: [] as k8s.V1Pod[] }))
    ).items;
  if (!existing && (await pods()).length === 0) {
    if (secret) await kube.core.deleteNamespacedSecret({ name: secret, namespace }).catch(() => {});
    return;
  }
  await deleteRestoreJob(kube, namespace, name, secret);
  const deadline = Date.now() + 120_000;
  while (
    (await batch.readNamespacedJob({ name, namespace }).catch(() => undefined)) ||
    (await pods()).length > 0
  ) {
    if (Date.now() > deadline)
      throw new VsnapError(
        "TIMEOUT",
        `the restore Job ${namespace}/${name} of an earlier attempt is still there after 2 minutes`,
        {
          hint: `delete it (kubectl delete job -n ${namespace} ${name}) and run the restore again`,
        },
      );
    await sleep(250, signal);
  }
}

/** Removes a Job and its pods (and, through the owner reference, its Secret). Best effort. */
export async function deleteRestoreJob(
  kube: Kube,
  namespace: string,
  name: string,
  secret?: string,
): Promise<void> {
  const batch = kube.config.makeApiClient(k8s.BatchV1Api);
  await batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Background" }).catch(() => {});
  const pods = await kube.core
    .listNamespacedPod({ namespace, labelSelector: `job-name=${name}` })
    .catch(() => ({ items: [] as k8s.V1Pod[] }));
  for (const p of pods.items)
    await kube.core.deleteNamespacedPod({ name: p.metadata?.name ?? "", namespace }).catch(() => {});
  if (secret) await kube.core.deleteNamespacedSecret({ name: secret, namespace }).catch(() => {});
}
