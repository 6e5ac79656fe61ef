import { EVENT_REASONS } from "./catalog.js";
import { type BuildContext, beginObject, endObject, meta, time } from "./encode.js";
import type { AppPlan, NamespacePlan } from "./model.js";
import { hash32, Rng } from "./rng.js";
import { podName, podNode, replicaSetName, uidFor } from "./workloads.js";

export interface EventInfo {
  readonly name: string;
  readonly seed: number;
  readonly kind: string;
  readonly apiVersion: string;
  readonly object: string;
  readonly objectUid: string;
  readonly container: string;
  readonly image: string;
  readonly node: string;
  readonly time: number;
  readonly reason?: (typeof EVENT_REASONS)[number];
}

/** Events about an app's pods (and one about its Deployment scaling), named `<object>.<16 hex>`. */
export function appEvents(app: AppPlan): EventInfo[] {
  const events: EventInfo[] = [];
  const container = app.container;
  for (let p = 0; p < app.replicas; p++) {
    const pod = podName(app, p);
    for (let e = 0; e < app.eventsPerPod; e++) {
      const seed = hash32(app.seed, "event", p * 16 + e);
      events.push({
        name: `${pod}.${new Rng(seed).hex(16)}`,
        seed,
        kind: "Pod",
        apiVersion: "v1",
        object: pod,
        objectUid: uidFor(app.seed, "pod", p),
        container,
        image: app.image,
        node: podNode(app, p),
        time: app.created + 86400 + e * 5,
      });
    }
  }
  if (!app.stateful) {
    const seed = hash32(app.seed, "event", -1);
    events.push({
      name: `${app.name}.${new Rng(seed).hex(16)}`,
      seed,
      kind: "Deployment",
      apiVersion: "apps/v1",
      object: app.name,
      objectUid: uidFor(app.seed, "deploy"),
      container,
      image: app.image,
      node: "",
      time: app.created + 3600,
      reason: [
        "ScalingReplicaSet",
        "Normal",
        "deployment-controller",
        () => `Scaled up replica set ${replicaSetName(app)} to ${app.replicas}`,
      ],
    });
  }
  return events;
}

export function event(ctx: BuildContext, ns: NamespacePlan, info: EventInfo): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(info.seed);
  const [reason, type, component, describe] = info.reason ?? rng.pick(EVENT_REASONS);
  const message = describe({
    ns: ns.name,
    name: info.object,
    node: info.node,
    image: info.image,
    container: info.container,
    uid: info.objectUid,
  });
  const count = rng.chance(0.2) ? rng.range(2, 40) : 1;
  beginObject(w, "v1", "Event");
  meta(w, {
    name: info.name,
    namespace: ns.name,
    uid: rng.uuid(),
    created: info.time,
    managed: [
      {
        manager: component === "kubelet" ? "kubelet" : "kube-controller-manager",
        operation: "Update",
        apiVersion: "v1",
        time: info.time,
        fields:
          '{"f:count":{},"f:firstTimestamp":{},"f:involvedObject":{},"f:lastTimestamp":{},"f:message":{},"f:reason":{},"f:reportingComponent":{},"f:reportingInstance":{},"f:source":{"f:component":{},"f:host":{}},"f:type":{}}',
      },
    ],
  });
  w.begin(2)
    .string(1, info.kind)
    .string(2, ns.name)
    .string(3, info.object)
    .string(4, info.objectUid)
    .string(5, info.apiVersion);
  w.string(6, String(1000 + rng.int(900_000)))
    .string(7, info.kind === "Pod" && component === "kubelet" ? `spec.containers{${info.container}}` : "")
    .end();
  w.string(3, reason)
    .string(4, message)
    .begin(5)
    .string(1, component)
    .string(2, component === "kubelet" ? info.node : "")
    .end();
  time(w, 6, info.time);
  time(w, 7, info.time + (count - 1) * 30);
  w.int(8, count)
    .string(9, type)
    .begin(10)
    .end()
    .string(12, "")
    .string(14, component)
    .string(15, component === "kubelet" ? info.node : "");
  return endObject(w);
}

/** An event about the namespace itself: filler that lets the generator hit a key count exactly. */
export function namespaceEvent(ns: NamespacePlan, i: number): EventInfo {
  const seed = hash32(ns.seed, "nsevent", i);
  return {
    name: `${ns.name}.${new Rng(seed).hex(16)}`,
    seed,
    kind: "Namespace",
    apiVersion: "v1",
    object: ns.name,
    objectUid: uidFor(ns.seed, "namespace"),
    container: "",
    image: "",
    node: "",
    time: ns.created + 60 + i,
    reason: [
      "ResourceQuotaUpdated",
      "Normal",
      "resourcequota-controller",
      (f) => `Namespace ${f.name} usage recalculated`,
    ],
  };
}

export function lease(
  ctx: BuildContext,
  ns: NamespacePlan,
  name: string,
  holder: string,
  seed: number,
  created: number,
  duration = 15,
): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(seed, "lease", name));
  const renew = created + 86400 * 2 + rng.int(3600);
  beginObject(w, "coordination.k8s.io/v1", "Lease");
  meta(w, {
    name,
    namespace: ns.name,
    uid: uidFor(seed, `lease:${name}`),
    created,
    managed: [
      {
        manager: holder.split("_")[0] ?? holder,
        operation: "Update",
        apiVersion: "coordination.k8s.io/v1",
        time: renew,
        fields:
          '{"f:spec":{"f:acquireTime":{},"f:holderIdentity":{},"f:leaseDurationSeconds":{},"f:leaseTransitions":{},"f:renewTime":{}}}',
      },
    ],
  });
  w.begin(2).string(1, holder).int(2, duration);
  w.begin(3)
    .int(1, created + 5)
    .int(2, rng.int(1_000_000) * 1000)
    .end();
  w.begin(4)
    .int(1, renew)
    .int(2, rng.int(1_000_000) * 1000)
    .end();
  w.int(5, rng.int(4)).end();
  return endObject(w);
}

export function appLease(ctx: BuildContext, ns: NamespacePlan, app: AppPlan): Uint8Array {
  return lease(
    ctx,
    ns,
    `${app.name}-leader`,
    `${podName(app, 0)}_${uidFor(app.seed, "lease-holder")}`,
    app.seed,
    app.created + 10,
  );
}
