import { type BuildContext, beginObject, endObject, meta, type Pairs, time } from "./encode.js";
import { CLUSTER_EPOCH, type NamespacePlan } from "./model.js";
import type { ProtoWriter } from "./protobuf.js";
import { hash32, Rng } from "./rng.js";
import { uidFor } from "./workloads.js";

const RBAC = "rbac.authorization.k8s.io/v1";
const BOOTSTRAP_LABELS: Pairs = [["kubernetes.io/bootstrapping", "rbac-defaults"]];
const AUTOUPDATE: Pairs = [["rbac.authorization.kubernetes.io/autoupdate", "true"]];

export function namespace(ctx: BuildContext, ns: NamespacePlan): Uint8Array {
  const { w } = ctx;
  beginObject(w, "v1", "Namespace");
  meta(w, {
    name: ns.name,
    uid: uidFor(ns.seed, "namespace"),
    created: ns.created,
    labels: [
      ["kubernetes.io/metadata.name", ns.name],
      ...(ns.system ? [] : ([["team", ns.name.split("-")[0]!]] as const)),
    ],
    managed: [
      {
        manager: ns.system ? "kube-apiserver" : "kubectl-create",
        operation: "Update",
        apiVersion: "v1",
        time: ns.created,
        fields: '{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/metadata.name":{}}}}',
      },
    ],
  });
  w.begin(2).string(1, "kubernetes").end().begin(3).string(1, "Active").end();
  return endObject(w);
}

const NODE_IMAGES = [
  "docker.io/library/nginx",
  "docker.io/library/postgres",
  "docker.io/library/redis",
  "registry.k8s.io/coredns/coredns",
  "registry.k8s.io/pause",
  "ghcr.io/example/api",
  "ghcr.io/example/worker",
  "quay.io/prometheus/node-exporter",
  "docker.io/grafana/grafana",
  "docker.io/envoyproxy/envoy",
  "docker.io/bitnami/kafka",
  "docker.io/library/mongo",
];

export function node(ctx: BuildContext, seed: number, name: string): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(seed, "node", name));
  const created = CLUSTER_EPOCH + 120;
  beginObject(w, "v1", "Node");
  meta(w, {
    name,
    uid: uidFor(seed, `node:${name}`),
    created,
    labels: [
      ["beta.kubernetes.io/arch", "amd64"],
      ["beta.kubernetes.io/os", "linux"],
      ["kubernetes.io/arch", "amd64"],
      ["kubernetes.io/hostname", name],
      ["kubernetes.io/os", "linux"],
      ["node.kubernetes.io/instance-type", "m6i.xlarge"],
      ["topology.kubernetes.io/region", "eu-west-1"],
      ["topology.kubernetes.io/zone", `eu-west-1${"abc"[rng.int(3)]}`],
    ],
    annotations: [
      ["node.alpha.kubernetes.io/ttl", "0"],
      ["volumes.kubernetes.io/controller-managed-attach-detach", "true"],
    ],
  });
  const cidr = `10.244.${rng.int(8)}.0/24`;
  w.begin(2)
    .string(1, cidr)
    .string(3, `aws:///eu-west-1a/i-0${rng.hex(16)}`)
    .string(7, cidr)
    .end();
  w.begin(3);
  for (const [field, values] of [
    [
      1,
      [
        ["cpu", "4"],
        ["ephemeral-storage", "101430960Ki"],
        ["hugepages-2Mi", "0"],
        ["memory", "16073124Ki"],
        ["pods", "110"],
      ],
    ],
    [
      2,
      [
        ["cpu", "3920m"],
        ["ephemeral-storage", "93478772582"],
        ["hugepages-2Mi", "0"],
        ["memory", "15315364Ki"],
        ["pods", "110"],
      ],
    ],
  ] as const) {
    for (const [k, v] of values) w.begin(field).string(1, k).begin(2).string(1, v).end().end();
  }
  w.string(3, "");
  for (const [type, status, reason] of [
    ["MemoryPressure", "False", "KubeletHasSufficientMemory"],
    ["DiskPressure", "False", "KubeletHasNoDiskPressure"],
    ["PIDPressure", "False", "KubeletHasSufficientPID"],
    ["Ready", "True", "KubeletReady"],
  ] as const) {
    w.begin(4).string(1, type).string(2, status);
    time(w, 3, created + 86400 * 3);
    time(w, 4, created);
    w.string(5, reason).string(6, `kubelet is posting ready status`).end();
  }
  w.begin(5)
    .string(1, "InternalIP")
    .string(2, `172.18.0.${rng.range(2, 60)}`)
    .end()
    .begin(5)
    .string(1, "Hostname")
    .string(2, name)
    .end();
  w.begin(6).begin(1).int(1, 10250).end().end();
  w.begin(7)
    .string(1, rng.hex(32))
    .string(2, rng.uuid())
    .string(3, rng.uuid())
    .string(4, "6.8.0-1019-aws")
    .string(5, "Ubuntu 24.04.1 LTS");
  w.string(6, "containerd://1.7.22")
    .string(7, "v1.31.2")
    .string(8, "")
    .string(9, "linux")
    .string(10, "amd64")
    .end();
  for (const image of NODE_IMAGES) {
    const digest = rng.hex(64);
    w.begin(8)
      .string(1, `${image}@sha256:${digest}`)
      .string(1, `${image}:${rng.range(1, 9)}.${rng.range(0, 30)}`)
      .int(2, rng.range(700_000, 400_000_000))
      .end();
  }
  w.end();
  return endObject(w);
}

function rule(
  w: ProtoWriter,
  verbs: readonly string[],
  groups: readonly string[],
  resources: readonly string[],
): void {
  w.begin(2).strings(1, verbs).strings(2, groups).strings(3, resources).end();
}

const RULE_SETS: readonly (readonly [verbs: string[], groups: string[], resources: string[]])[] = [
  [["get", "list", "watch"], [""], ["pods", "services", "endpoints", "configmaps"]],
  [
    ["create", "delete", "deletecollection", "patch", "update"],
    ["apps"],
    ["deployments", "replicasets", "statefulsets"],
  ],
  [["get", "list", "watch"], ["discovery.k8s.io"], ["endpointslices"]],
  [["create", "patch", "update"], ["", "events.k8s.io"], ["events"]],
  [["get", "create", "update"], ["coordination.k8s.io"], ["leases"]],
  [["get", "list", "watch", "update"], [""], ["secrets", "serviceaccounts"]],
];

export function role(ctx: BuildContext, name: string, seed: number, namespaceName?: string): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(seed, "role", name));
  beginObject(w, RBAC, namespaceName === undefined ? "ClusterRole" : "Role");
  meta(w, {
    name,
    namespace: namespaceName,
    uid: uidFor(seed, `role:${name}`),
    created: CLUSTER_EPOCH + 2,
    labels: BOOTSTRAP_LABELS,
    annotations: AUTOUPDATE,
  });
  const rules = rng.range(1, RULE_SETS.length);
  for (let i = 0; i < rules; i++) {
    const [verbs, groups, resources] = RULE_SETS[(i + rng.int(RULE_SETS.length)) % RULE_SETS.length]!;
    rule(w, verbs, groups, resources);
  }
  return endObject(w);
}

export function roleBinding(
  ctx: BuildContext,
  name: string,
  seed: number,
  subject: { kind: string; name: string; namespace?: string },
  namespaceName?: string,
): Uint8Array {
  const { w } = ctx;
  beginObject(w, RBAC, namespaceName === undefined ? "ClusterRoleBinding" : "RoleBinding");
  meta(w, {
    name,
    namespace: namespaceName,
    uid: uidFor(seed, `binding:${name}`),
    created: CLUSTER_EPOCH + 2,
    labels: BOOTSTRAP_LABELS,
    annotations: AUTOUPDATE,
  });
  w.begin(2)
    .string(1, subject.kind)
    .string(2, subject.kind === "ServiceAccount" ? "" : "rbac.authorization.k8s.io")
    .string(3, subject.name)
    .string(4, subject.namespace ?? "")
    .end();
  w.begin(3)
    .string(1, "rbac.authorization.k8s.io")
    .string(2, namespaceName === undefined ? "ClusterRole" : "Role")
    .string(3, name)
    .end();
  return endObject(w);
}

export function flowSchema(ctx: BuildContext, seed: number, name: string, index: number): Uint8Array {
  const { w } = ctx;
  beginObject(w, "flowcontrol.apiserver.k8s.io/v1", "FlowSchema");
  meta(w, {
    name,
    uid: uidFor(seed, `fs:${name}`),
    generation: 1,
    created: CLUSTER_EPOCH + 1,
    annotations: [["apf.kubernetes.io/autoupdate-spec", "true"]],
  });
  w.begin(2)
    .begin(1)
    .string(1, name === "exempt" ? "exempt" : "workload-low")
    .end()
    .int(2, 100 + index * 100)
    .begin(3)
    .string(1, "ByUser")
    .end();
  w.begin(4).begin(1).string(1, "Group").begin(3).string(1, "system:serviceaccounts").end().end();
  w.begin(2).string(1, "*").string(2, "*").string(3, "*").bool(4, true).string(5, "*").end().end().end();
  w.begin(3).begin(1).string(1, "Dangling").string(2, "False");
  time(w, 3, CLUSTER_EPOCH + 1);
  w.string(4, "Found")
    .string(
      5,
      `This FlowSchema references the PriorityLevelConfiguration object named "workload-low" and it exists`,
    )
    .end()
    .end();
  return endObject(w);
}

export function priorityLevel(ctx: BuildContext, seed: number, name: string, index: number): Uint8Array {
  const { w } = ctx;
  beginObject(w, "flowcontrol.apiserver.k8s.io/v1", "PriorityLevelConfiguration");
  meta(w, {
    name,
    uid: uidFor(seed, `plc:${name}`),
    generation: 1,
    created: CLUSTER_EPOCH + 1,
    annotations: [["apf.kubernetes.io/autoupdate-spec", "true"]],
  });
  if (name === "exempt") w.begin(2).string(1, "Exempt").begin(3).int(1, 0).int(2, 0).end().end();
  else
    w.begin(2)
      .string(1, "Limited")
      .begin(2)
      .int(1, 10 + index * 10)
      .begin(2)
      .string(1, "Queue")
      .begin(2)
      .int(1, 64)
      .int(2, 6)
      .int(3, 50)
      .end()
      .end()
      .int(3, 50)
      .end()
      .end();
  w.begin(3).end();
  return endObject(w);
}

export function priorityClass(ctx: BuildContext, seed: number, name: string, value: number): Uint8Array {
  const { w } = ctx;
  beginObject(w, "scheduling.k8s.io/v1", "PriorityClass");
  meta(w, { name, uid: uidFor(seed, `pc:${name}`), generation: 1, created: CLUSTER_EPOCH + 1 });
  w.int(2, value)
    .bool(3, false)
    .string(
      4,
      "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    )
    .string(5, "PreemptLowerPriority");
  return endObject(w);
}

export function storageClass(ctx: BuildContext, seed: number): Uint8Array {
  const { w } = ctx;
  beginObject(w, "storage.k8s.io/v1", "StorageClass");
  meta(w, {
    name: "local-path",
    uid: uidFor(seed, "sc"),
    created: CLUSTER_EPOCH + 30,
    annotations: [["storageclass.kubernetes.io/is-default-class", "true"]],
  });
  w.string(2, "rancher.io/local-path").string(4, "Delete").string(7, "WaitForFirstConsumer");
  return endObject(w);
}

/** The apiserver's allocation bitmaps (`/registry/ranges/serviceips`, `.../servicenodeports`). */
export function rangeAllocation(ctx: BuildContext, seed: number, name: string, services: number): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(seed, "range", name));
  const bitmap = new Uint8Array(Math.max(8, Math.ceil(services / 4) + rng.int(64)));
  for (let i = 0; i < services; i++) {
    const bit = rng.int(bitmap.length * 8);
    bitmap[bit >>> 3]! |= 1 << (bit & 7);
  }
  beginObject(w, "v1", "RangeAllocation");
  meta(w, { name: "", uid: "", created: CLUSTER_EPOCH });
  w.string(2, name === "serviceips" ? "10.96.0.0/12" : "30000-32767").bytes(3, bitmap);
  return endObject(w);
}
