import type { FieldCause } from "./errors.js";
import { BUILTIN_RESOURCES, customResource, ResourceRegistry, type ResourceType } from "./resources.js";
import type { KubeObject } from "./selectors.js";

type Obj = Record<string, unknown>;
const at = (o: unknown, ...path: string[]): unknown => {
  let cur = o;
  for (const p of path) cur = typeof cur === "object" && cur !== null ? (cur as Obj)[p] : undefined;
  return cur;
};
const str = (v: unknown) => (v === undefined || v === null ? "" : String(v));

/** The external-snapshotter's API group (CRDs installed by the snapshot-controller). */
export const SNAPSHOT_GROUP = "snapshot.storage.k8s.io";
/** Where the simulated CSI driver keeps its snapshots: the "storage backend", visible through the API. */
export const FAKE_CSI_GROUP = "csi.fake.vsnap.dev";

function required(object: KubeObject, causes: FieldCause[], ...path: string[]): void {
  if (at(object, ...path) === undefined || at(object, ...path) === "")
    causes.push({ field: path.join("."), type: "FieldValueRequired", detail: "Required value" });
}

/** snapshot.storage.k8s.io/v1 VolumeSnapshot, with the CRD's "exactly one source" rule. */
export const VOLUME_SNAPSHOT: ResourceType = customResource({
  group: SNAPSHOT_GROUP,
  version: "v1",
  kind: "VolumeSnapshot",
  plural: "volumesnapshots",
  namespaced: true,
  shortNames: ["vs"],
  statusSubresource: true,
  columns: [
    { name: "ReadyToUse", type: "boolean", cell: (o) => at(o, "status", "readyToUse") === true },
    {
      name: "SourcePVC",
      type: "string",
      cell: (o) => str(at(o, "spec", "source", "persistentVolumeClaimName")),
    },
    {
      name: "SourceSnapshotContent",
      type: "string",
      cell: (o) => str(at(o, "spec", "source", "volumeSnapshotContentName")),
    },
    { name: "RestoreSize", type: "string", cell: (o) => str(at(o, "status", "restoreSize")) },
    { name: "SnapshotClass", type: "string", cell: (o) => str(at(o, "spec", "volumeSnapshotClassName")) },
    {
      name: "SnapshotContent",
      type: "string",
      cell: (o) => str(at(o, "status", "boundVolumeSnapshotContentName")),
    },
  ],
  validate(object) {
    const causes: FieldCause[] = [];
    const pvc = at(object, "spec", "source", "persistentVolumeClaimName");
    const content = at(object, "spec", "source", "volumeSnapshotContentName");
    if ((pvc === undefined) === (content === undefined))
      causes.push({
        field: "spec.source",
        type: "FieldValueInvalid",
        detail: "Exactly one of volumeSnapshotContentName and persistentVolumeClaimName should be specified",
      });
    return causes;
  },
});

/** snapshot.storage.k8s.io/v1 VolumeSnapshotContent (cluster-scoped). */
export const VOLUME_SNAPSHOT_CONTENT: ResourceType = customResource({
  group: SNAPSHOT_GROUP,
  version: "v1",
  kind: "VolumeSnapshotContent",
  plural: "volumesnapshotcontents",
  namespaced: false,
  shortNames: ["vsc", "vscs"],
  statusSubresource: true,
  columns: [
    { name: "ReadyToUse", type: "boolean", cell: (o) => at(o, "status", "readyToUse") === true },
    { name: "RestoreSize", type: "integer", cell: (o) => Number(at(o, "status", "restoreSize") ?? 0) },
    { name: "DeletionPolicy", type: "string", cell: (o) => str(at(o, "spec", "deletionPolicy")) },
    { name: "Driver", type: "string", cell: (o) => str(at(o, "spec", "driver")) },
    { name: "VolumeSnapshot", type: "string", cell: (o) => str(at(o, "spec", "volumeSnapshotRef", "name")) },
  ],
  validate(object) {
    const causes: FieldCause[] = [];
    required(object, causes, "spec", "driver");
    required(object, causes, "spec", "volumeSnapshotRef", "name");
    required(object, causes, "spec", "volumeSnapshotRef", "namespace");
    const policy = at(object, "spec", "deletionPolicy");
    if (policy !== "Delete" && policy !== "Retain")
      causes.push({
        field: "spec.deletionPolicy",
        type: "FieldValueNotSupported",
        value: str(policy),
        detail: 'supported values: "Delete", "Retain"',
      });
    const volume = at(object, "spec", "source", "volumeHandle");
    const snapshot = at(object, "spec", "source", "snapshotHandle");
    if ((volume === undefined) === (snapshot === undefined))
      causes.push({
        field: "spec.source",
        type: "FieldValueInvalid",
        detail: "Exactly one of volumeHandle and snapshotHandle should be specified",
      });
    return causes;
  },
});

/** snapshot.storage.k8s.io/v1 VolumeSnapshotClass (cluster-scoped; `driver` and `deletionPolicy` at the top level). */
export const VOLUME_SNAPSHOT_CLASS: ResourceType = customResource({
  group: SNAPSHOT_GROUP,
  version: "v1",
  kind: "VolumeSnapshotClass",
  plural: "volumesnapshotclasses",
  namespaced: false,
  shortNames: ["vsclass", "vsclasses"],
  columns: [
    { name: "Driver", type: "string", cell: (o) => str(o.driver) },
    { name: "DeletionPolicy", type: "string", cell: (o) => str(o.deletionPolicy) },
  ],
  validate(object) {
    const causes: FieldCause[] = [];
    required(object, causes, "driver");
    if (object.deletionPolicy !== "Delete" && object.deletionPolicy !== "Retain")
      causes.push({
        field: "deletionPolicy",
        type: "FieldValueNotSupported",
        value: str(object.deletionPolicy),
        detail: 'supported values: "Delete", "Retain"',
      });
    return causes;
  },
});

/** storage.k8s.io/v1 StorageClass: `provisioner` names the CSI driver that provisions its volumes. */
export const STORAGE_CLASS: ResourceType = {
  group: "storage.k8s.io",
  version: "v1",
  kind: "StorageClass",
  plural: "storageclasses",
  singular: "storageclass",
  namespaced: false,
  shortNames: ["sc"],
  storagePrefix: "/registry/storageclasses",
  columns: [
    { name: "Provisioner", type: "string", cell: (o) => str(o.provisioner) },
    { name: "ReclaimPolicy", type: "string", cell: (o) => str(o.reclaimPolicy ?? "Delete") },
  ],
};

/** batch/v1 Job, run by the simulated job controller (`jobController`). */
export const JOB: ResourceType = {
  group: "batch",
  version: "v1",
  kind: "Job",
  plural: "jobs",
  singular: "job",
  namespaced: true,
  categories: ["all"],
  storagePrefix: "/registry/jobs",
  statusSubresource: true,
  hasGeneration: true,
  columns: [
    {
      name: "Status",
      type: "string",
      cell: (o) => {
        const conditions = (at(o, "status", "conditions") ?? []) as Obj[];
        const done = conditions.find(
          (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
        );
        return done ? str(done.type) : Number(at(o, "status", "active") ?? 0) > 0 ? "Running" : "Pending";
      },
    },
    {
      name: "Completions",
      type: "string",
      cell: (o) =>
        `${Number(at(o, "status", "succeeded") ?? 0)}/${Number(at(o, "spec", "completions") ?? 1)}`,
    },
  ],
  prepare(object, old) {
    const spec = (object.spec ?? {}) as Obj;
    spec.completions ??= 1;
    spec.parallelism ??= 1;
    spec.backoffLimit ??= 6;
    object.spec = spec;
    if (!old) object.status = {};
  },
  validate(object) {
    const causes: FieldCause[] = [];
    const containers = at(object, "spec", "template", "spec", "containers");
    if (!Array.isArray(containers) || containers.length === 0)
      causes.push({
        field: "spec.template.spec.containers",
        type: "FieldValueRequired",
        detail: "Required value",
      });
    const policy = at(object, "spec", "template", "spec", "restartPolicy");
    if (policy !== "Never" && policy !== "OnFailure")
      causes.push({
        field: "spec.template.spec.restartPolicy",
        type: "FieldValueNotSupported",
        value: str(policy),
        detail: 'supported values: "OnFailure", "Never"',
      });
    return causes;
  },
};

/** A snapshot held by the simulated CSI driver's backend (name = snapshot handle). */
export const BACKEND_SNAPSHOT: ResourceType = customResource({
  group: FAKE_CSI_GROUP,
  version: "v1",
  kind: "BackendSnapshot",
  plural: "backendsnapshots",
  namespaced: false,
  columns: [
    { name: "Driver", type: "string", cell: (o) => str(at(o, "spec", "driver")) },
    { name: "SourceVolume", type: "string", cell: (o) => str(at(o, "spec", "sourceVolumeHandle")) },
  ],
});

/** Everything the restore and volume-snapshot tests need beyond the built-ins. */
export const STORAGE_RESOURCES: readonly ResourceType[] = [
  VOLUME_SNAPSHOT,
  VOLUME_SNAPSHOT_CONTENT,
  VOLUME_SNAPSHOT_CLASS,
  STORAGE_CLASS,
  JOB,
  BACKEND_SNAPSHOT,
];

/** The built-in kinds plus snapshot.storage.k8s.io, StorageClasses, Jobs and the fake CSI backend. */
export function storageResourceRegistry(): ResourceRegistry {
  return new ResourceRegistry([...BUILTIN_RESOURCES, ...STORAGE_RESOURCES]);
}
