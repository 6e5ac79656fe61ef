import { createHash } from "node:crypto";
import { ApiError } from "../errors.js";
import type { ResourceType } from "../resources.js";
import type { KubeObject } from "../selectors.js";
import type { ControllerContext, SimulatedController } from "../server.js";

type Obj = Record<string, unknown>;

/**
 * Stands in for the StatefulSet and Deployment controllers and a kubelet: keeps `spec.replicas`
 * Running pods (labelled from the template, owned by the workload) and the workload's status.
 * Enough for code that reads pods and ready counts (is the vCluster running? scaled to zero?).
 */
export function workloadController(): SimulatedController {
  const abort = new AbortController();
  let queue = Promise.resolve();
  return {
    name: "workloads",
    async start(ctx: ControllerContext) {
      const pods = ctx.resources.lookup("", "v1", "pods");
      if (!pods) throw new Error("the workload controller needs pods registered");
      for (const plural of ["statefulsets", "deployments"]) {
        const rt = ctx.resources.lookup("apps", "v1", plural);
        if (!rt) continue;
        await ctx.store.watch(rt, undefined, { signal: abort.signal }, (event) => {
          if (event.type === "ERROR" || event.type === "BOOKMARK") return;
          const object = event.object as KubeObject;
          queue = queue
            .then(() => reconcile(ctx, rt, pods, object.metadata.namespace ?? "", object.metadata.name ?? ""))
            .catch((e: unknown) => ctx.log(`workloads: ${(e as Error).message}`));
        });
      }
    },
    async stop() {
      abort.abort();
      await queue;
    },
  };
}

async function reconcile(
  ctx: ControllerContext,
  rt: ResourceType,
  podType: ResourceType,
  ns: string,
  name: string,
) {
  const { store } = ctx;
  const workload = await store.get(rt, ns, name).catch((e: unknown) => {
    if (e instanceof ApiError && e.code === 404) return undefined;
    throw e;
  });
  const owned = (await store.list(podType, ns)).items.filter((p) =>
    (p.metadata.ownerReferences ?? []).some((r) => r.kind === rt.kind && r.name === name),
  );
  if (!workload || workload.metadata.deletionTimestamp) {
    for (const p of owned) await store.delete(podType, ns, p.metadata.name ?? "").catch(() => {});
    return;
  }
  const spec = (workload.spec ?? {}) as Obj;
  const replicas = typeof spec.replicas === "number" ? spec.replicas : 1;
  const template = (spec.template ?? {}) as { metadata?: Obj; spec?: Obj };
  const hash = createHash("sha256").update(JSON.stringify(template)).digest("hex").slice(0, 10);
  const wanted = Array.from({ length: replicas }, (_, i) =>
    rt.kind === "StatefulSet" ? `${name}-${i}` : `${name}-${hash}-${i}`,
  );
  for (const p of owned)
    if (!wanted.includes(p.metadata.name ?? ""))
      await store.delete(podType, ns, p.metadata.name ?? "").catch(() => {});
  for (const [i, podName] of wanted.entries()) {
    if (owned.some((p) => p.metadata.name === podName)) continue;
    const labels: Record<string, string> = {
      ...((template.metadata?.labels as Record<string, string>) ?? {}),
    };
    if (rt.kind === "StatefulSet") {
      labels["statefulset.kubernetes.io/pod-name"] = podName;
      labels["apps.kubernetes.io/pod-index"] = String(i);
    } else labels["pod-template-hash"] = hash;
    const podSpec = (template.spec ?? { containers: [] }) as Obj;
    await store
      .create(podType, ns, {
        metadata: {
          name: podName,
          namespace: ns,
          labels,
          ownerReferences: [
            {
              apiVersion: "apps/v1",
              kind: rt.kind,
              name,
              uid: workload.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: podSpec,
      })
      .catch((e: unknown) => {
        if (!(e instanceof ApiError && e.code === 409)) throw e;
      });
    const containers = (podSpec.containers ?? []) as Obj[];
    await store.update(
      podType,
      ns,
      podName,
      (pod) => ({
        ...pod,
        status: {
          phase: "Running",
          conditions: [{ type: "Ready", status: "True" }],
          containerStatuses: containers.map((c) => ({
            name: c.name,
            image: c.image,
            ready: true,
            restartCount: 0,
            started: true,
          })),
        },
      }),
      { subresource: "status" },
    );
  }
  await store.update(
    rt,
    ns,
    name,
    (w) => ({
      ...w,
      status: {
        observedGeneration: w.metadata.generation,
        replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
        updatedReplicas: replicas,
        ...(rt.kind === "StatefulSet" ? { currentReplicas: replicas } : {}),
      },
    }),
    { subresource: "status" },
  );
}
