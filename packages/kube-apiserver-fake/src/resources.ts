import type { FieldCause } from "./errors.js";
import type { KubeObject } from "./selectors.js";
import { age } from "./table.js";

export interface TableColumn {
  readonly name: string;
  readonly type: "string" | "integer" | "number" | "boolean" | "date";
  readonly format?: string;
  readonly description?: string;
  readonly priority?: number;
  readonly cell: (object: KubeObject) => string | number | boolean;
}

/**
 * One kind the server serves. Register more (a CRD, an aggregated API) with
 * `ResourceRegistry.register`; `storagePrefix` decides where its objects live in etcd.
 */
export interface ResourceType {
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
  /** etcd key prefix, no trailing slash: `/registry/configmaps`, `/registry/snapshot.storage.k8s.io/volumesnapshots`. */
  readonly storagePrefix: string;
  /** Serve `/status`: the main endpoint then ignores status changes and `/status` only changes status. */
  readonly statusSubresource?: boolean;
  /** Serve `/scale` (autoscaling/v1 Scale) from `spec.replicas`, `status.replicas`, `spec.selector`. */
  readonly scaleSubresource?: boolean;
  /** Keep `metadata.generation`, bumped on every spec change. */
  readonly hasGeneration?: boolean;
  /** Columns for `kubectl get` (server-side printing); Name and Age are added around them. */
  readonly columns?: readonly TableColumn[];
  /** False when `columns` are the whole row (core events print no Name/Age). */
  readonly nameAndAge?: boolean;
  /** When another API version owns the storage (events.k8s.io/v1 events are stored as core/v1). */
  readonly toStorage?: (object: KubeObject) => KubeObject;
  readonly fromStorage?: (object: KubeObject) => KubeObject;
  /** Defaulting and normalisation before every write; `old` is undefined on create. */
  readonly prepare?: (object: KubeObject, old: KubeObject | undefined) => void;
  readonly validate?: (object: KubeObject) => FieldCause[];
}

export const apiVersionOf = (rt: Pick<ResourceType, "group" | "version">) =>
  rt.group ? `${rt.group}/${rt.version}` : rt.version;

export class ResourceRegistry {
  readonly #types = new Map<string, ResourceType>();

  constructor(types: readonly ResourceType[] = BUILTIN_RESOURCES) {
    for (const t of types) this.register(t);
  }

  register(type: ResourceType): this {
    this.#types.set(`${type.group}/${type.version}/${type.plural}`, type);
    return this;
  }

  lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.#types.get(`${group}/${version}/${plural}`);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.all().find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
  }

  all(): ResourceType[] {
    return [...this.#types.values()];
  }

  /** Group name -> versions, in registration order (core group under ""). */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const t of this.#types.values()) {
      const versions = out.get(t.group) ?? [];
      if (!versions.includes(t.version)) versions.push(t.version);
      out.set(t.group, versions);
    }
    return out;
  }
}

/** A CRD-style type stored as kube-apiserver stores custom resources: `/registry/<group>/<plural>`. */
export function customResource(
  spec: Omit<ResourceType, "storagePrefix" | "singular"> & { singular?: string; storagePrefix?: string },
): ResourceType {
  return {
    ...spec,
    singular: spec.singular ?? spec.kind.toLowerCase(),
    storagePrefix: spec.storagePrefix ?? `/registry/${spec.group}/${spec.plural}`,
    hasGeneration: spec.hasGeneration ?? true,
  };
}

type Obj = Record<string, unknown>;
const field = (o: unknown, ...path: string[]): unknown => {
  let cur = o;
  for (const p of path) cur = typeof cur === "object" && cur !== null ? (cur as Obj)[p] : undefined;
  return cur;
};
const num = (v: unknown) => (typeof v === "number" ? v : 0);
const count = (v: unknown) => (v && typeof v === "object" ? Object.keys(v).length : 0);

function defaultReplicas(object: KubeObject): void {
  const spec = (object.spec ?? {}) as Obj;
  if (spec.replicas === undefined) spec.replicas = 1;
  object.spec = spec;
  if (object.status === undefined) object.status = {};
}

const secret: ResourceType = {
  group: "",
  version: "v1",
  kind: "Secret",
  plural: "secrets",
  singular: "secret",
  namespaced: true,
  storagePrefix: "/registry/secrets",
  columns: [
    { name: "Type", type: "string", cell: (o) => String(o.type ?? "Opaque") },
    { name: "Data", type: "integer", cell: (o) => count(o.data) },
  ],
  prepare(object) {
    // stringData is write-only: merged into data (base64), never stored.
    const stringData = object.stringData as Record<string, string> | undefined;
    if (stringData) {
      const data = (object.data ?? {}) as Record<string, string>;
      for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v).toString("base64");
      object.data = data;
      delete object.stringData;
    }
    if (!object.type) object.type = "Opaque";
  },
};

const eventCore: ResourceType = {
  group: "",
  version: "v1",
  kind: "Event",
  plural: "events",
  singular: "event",
  namespaced: true,
  shortNames: ["ev"],
  storagePrefix: "/registry/events",
  nameAndAge: false,
  columns: [
    {
      name: "Last Seen",
      type: "string",
      cell: (o) => age(String(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp ?? "")),
    },
    { name: "Type", type: "string", cell: (o) => String(o.type ?? "") },
    { name: "Reason", type: "string", cell: (o) => String(o.reason ?? "") },
    {
      name: "Object",
      type: "string",
      cell: (o) =>
        `${String(field(o, "involvedObject", "kind") ?? "").toLowerCase()}/${String(field(o, "involvedObject", "name") ?? "")}`,
    },
    { name: "Message", type: "string", cell: (o) => String(o.message ?? "") },
  ],
};

// events.k8s.io/v1 <-> core/v1 field names (kubernetes/pkg/apis/events conversion)
const EVENT_RENAMES: readonly (readonly [string, string])[] = [
  ["regarding", "involvedObject"],
  ["note", "message"],
  ["reportingController", "reportingComponent"],
  ["deprecatedSource", "source"],
  ["deprecatedFirstTimestamp", "firstTimestamp"],
  ["deprecatedLastTimestamp", "lastTimestamp"],
  ["deprecatedCount", "count"],
];

function renameFields(
  object: KubeObject,
  pairs: readonly (readonly [string, string])[],
  apiVersion: string,
): KubeObject {
  const out: KubeObject = { ...object, apiVersion, kind: "Event" };
  for (const [from, to] of pairs) {
    if (from in out) {
      out[to] = out[from];
      delete out[from];
    }
  }
  return out;
}

const eventsK8sIo: ResourceType = {
  ...eventCore,
  group: "events.k8s.io",
  shortNames: ["ev"],
  columns: undefined,
  nameAndAge: true,
  toStorage: (o) => renameFields(o, EVENT_RENAMES, "v1"),
  fromStorage: (o) =>
    renameFields(
      o,
      EVENT_RENAMES.map(([a, b]) => [b, a] as const),
      "events.k8s.io/v1",
    ),
};

const readyCell = (o: KubeObject) =>
  `${num(field(o, "status", "readyReplicas"))}/${num(field(o, "spec", "replicas"))}`;

/** The kinds vsnap's tests need, stored where kube-apiserver stores them. */
export const BUILTIN_RESOURCES: readonly ResourceType[] = [
  {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    namespaced: false,
    shortNames: ["ns"],
    storagePrefix: "/registry/namespaces",
    statusSubresource: true,
    columns: [
      { name: "Status", type: "string", cell: (o) => String(field(o, "status", "phase") ?? "Active") },
    ],
    prepare(object, old) {
      if (!old) object.status = { phase: "Active" };
    },
  },
  {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    singular: "configmap",
    namespaced: true,
    shortNames: ["cm"],
    storagePrefix: "/registry/configmaps",
    columns: [{ name: "Data", type: "integer", cell: (o) => count(o.data) + count(o.binaryData) }],
  },
  secret,
  {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    namespaced: true,
    shortNames: ["po"],
    categories: ["all"],
    storagePrefix: "/registry/pods",
    statusSubresource: true,
    columns: [
      {
        name: "Ready",
        type: "string",
        cell: (o) => {
          const statuses = (field(o, "status", "containerStatuses") ?? []) as Obj[];
          const total = ((field(o, "spec", "containers") ?? []) as unknown[]).length;
          return `${statuses.filter((s) => s.ready === true).length}/${total}`;
        },
      },
      { name: "Status", type: "string", cell: (o) => String(field(o, "status", "phase") ?? "Pending") },
      { name: "Restarts", type: "integer", cell: () => 0 },
    ],
    prepare(object, old) {
      if (!old) object.status = { phase: "Pending", ...((object.status as Obj) ?? {}) };
    },
  },
  {
    group: "",
    version: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
    singular: "persistentvolumeclaim",
    namespaced: true,
    shortNames: ["pvc"],
    storagePrefix: "/registry/persistentvolumeclaims",
    statusSubresource: true,
    columns: [
      { name: "Status", type: "string", cell: (o) => String(field(o, "status", "phase") ?? "Pending") },
      { name: "Volume", type: "string", cell: (o) => String(field(o, "spec", "volumeName") ?? "") },
      {
        name: "Capacity",
        type: "string",
        cell: (o) => String(field(o, "status", "capacity", "storage") ?? ""),
      },
      {
        name: "StorageClass",
        type: "string",
        cell: (o) => String(field(o, "spec", "storageClassName") ?? ""),
      },
    ],
    prepare(object, old) {
      if (!old) object.status = { phase: "Pending", ...((object.status as Obj) ?? {}) };
    },
  },
  {
    group: "",
    version: "v1",
    kind: "PersistentVolume",
    plural: "persistentvolumes",
    singular: "persistentvolume",
    namespaced: false,
    shortNames: ["pv"],
    storagePrefix: "/registry/persistentvolumes",
    statusSubresource: true,
    columns: [
      {
        name: "Capacity",
        type: "string",
        cell: (o) => String(field(o, "spec", "capacity", "storage") ?? ""),
      },
      { name: "Status", type: "string", cell: (o) => String(field(o, "status", "phase") ?? "Available") },
      {
        name: "Claim",
        type: "string",
        cell: (o) => {
          const ref = field(o, "spec", "claimRef") as Obj | undefined;
          return ref ? `${String(ref.namespace)}/${String(ref.name)}` : "";
        },
      },
    ],
  },
  eventCore,
  eventsK8sIo,
  {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    singular: "deployment",
    namespaced: true,
    shortNames: ["deploy"],
    categories: ["all"],
    storagePrefix: "/registry/deployments",
    statusSubresource: true,
    scaleSubresource: true,
    hasGeneration: true,
    columns: [
      { name: "Ready", type: "string", cell: readyCell },
      { name: "Up-to-date", type: "integer", cell: (o) => num(field(o, "status", "updatedReplicas")) },
      { name: "Available", type: "integer", cell: (o) => num(field(o, "status", "availableReplicas")) },
    ],
    prepare: defaultReplicas,
  },
  {
    group: "apps",
    version: "v1",
    kind: "StatefulSet",
    plural: "statefulsets",
    singular: "statefulset",
    namespaced: true,
    shortNames: ["sts"],
    categories: ["all"],
    storagePrefix: "/registry/statefulsets",
    statusSubresource: true,
    scaleSubresource: true,
    hasGeneration: true,
    columns: [{ name: "Ready", type: "string", cell: readyCell }],
    prepare: defaultReplicas,
  },
  {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    singular: "lease",
    namespaced: true,
    storagePrefix: "/registry/leases",
    columns: [
      { name: "Holder", type: "string", cell: (o) => String(field(o, "spec", "holderIdentity") ?? "") },
    ],
  },
];
