import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  csiController,
  FAIL_SNAPSHOT_ANNOTATION,
  FAKE_CSI_DRIVER,
  storageResourceRegistry,
  VOLUME_DATA_ANNOTATION,
} from "../src/index.js";
import { freshNamespace, type Harness, harness, statusOf, until } from "./helpers.js";

// biome-ignore lint/suspicious/noExplicitAny: custom objects read back as plain JSON
type Obj = Record<string, any>;
const G = "snapshot.storage.k8s.io";
let h: Harness;
let custom: k8s.CustomObjectsApi;

beforeAll(async () => {
  h = await harness({ resources: storageResourceRegistry() });
  await h.api.addController(csiController({ readyDelayMs: 50 }));
  custom = h.kc.makeApiClient(k8s.CustomObjectsApi);
  const storage = h.kc.makeApiClient(k8s.StorageV1Api);
  await storage
    .createStorageClass({ body: { metadata: { name: "fast" }, provisioner: FAKE_CSI_DRIVER } })
    .catch(() => {});
  await custom
    .createClusterCustomObject({
      group: G,
      version: "v1",
      plural: "volumesnapshotclasses",
      body: {
        apiVersion: `${G}/v1`,
        kind: "VolumeSnapshotClass",
        metadata: {
          name: "fake-default",
          annotations: { "snapshot.storage.kubernetes.io/is-default-class": "true" },
        },
        driver: FAKE_CSI_DRIVER,
        deletionPolicy: "Delete",
      },
    })
    .catch(() => {});
});
afterAll(() => h.close());

async function boundClaim(
  ns: string,
  name: string,
  data: string,
  annotations: Record<string, string> = {},
): Promise<k8s.V1PersistentVolumeClaim> {
  await h.core.createNamespacedPersistentVolumeClaim({
    namespace: ns,
    body: {
      metadata: { name, annotations },
      spec: {
        storageClassName: "fast",
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "2Gi" } },
      },
    },
  });
  const pvc = await until(`${name} bound`, async () => {
    const c = await h.core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });
    return c.status?.phase === "Bound" ? c : undefined;
  });
  await h.core.patchPersistentVolume(
    {
      name: pvc.spec?.volumeName ?? "",
      body: { metadata: { annotations: { [VOLUME_DATA_ANNOTATION]: data } } },
    },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );
  return pvc;
}

const getVs = (ns: string, name: string) =>
  custom.getNamespacedCustomObject({
    group: G,
    version: "v1",
    namespace: ns,
    plural: "volumesnapshots",
    name,
  }) as Promise<Obj>;
const getVsc = (name: string) =>
  custom.getClusterCustomObject({
    group: G,
    version: "v1",
    plural: "volumesnapshotcontents",
    name,
  }) as Promise<Obj>;
const backend = async () =>
  (
    (await custom.listClusterCustomObject({
      group: "csi.fake.vsnap.dev",
      version: "v1",
      plural: "backendsnapshots",
    })) as Obj
  ).items as Obj[];

async function snapshot(ns: string, name: string, claim: string): Promise<Obj> {
  await custom.createNamespacedCustomObject({
    group: G,
    version: "v1",
    namespace: ns,
    plural: "volumesnapshots",
    body: {
      apiVersion: `${G}/v1`,
      kind: "VolumeSnapshot",
      metadata: { name },
      spec: { source: { persistentVolumeClaimName: claim } },
    },
  });
  return until(`${name} ready or failed`, async () => {
    const vs = await getVs(ns, name);
    return vs.status?.readyToUse === true || vs.status?.error ? vs : undefined;
  });
}

describe("simulated CSI snapshotter", () => {
  it("provisions a claim, snapshots it with the default class, and keeps a Retain'd snapshot after its objects go", async () => {
    const ns = await freshNamespace(h);
    await boundClaim(ns, "data", "hello");
    const vs = await snapshot(ns, "data-snap", "data");
    expect(vs.status).toMatchObject({ readyToUse: true, restoreSize: "2Gi" });
    const content = await getVsc(vs.status.boundVolumeSnapshotContentName);
    expect(content.spec).toMatchObject({
      deletionPolicy: "Delete",
      driver: FAKE_CSI_DRIVER,
      volumeSnapshotClassName: "fake-default",
    });
    const handle = content.status.snapshotHandle as string;
    expect((await backend()).find((b) => b.metadata.name === handle)?.spec.data).toBe("hello");

    // vCluster's Retain-then-delete: the backend snapshot survives with no Kubernetes objects
    await custom.patchClusterCustomObject(
      {
        group: G,
        version: "v1",
        plural: "volumesnapshotcontents",
        name: content.metadata.name,
        body: { spec: { deletionPolicy: "Retain" } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await custom.deleteNamespacedCustomObject({
      group: G,
      version: "v1",
      namespace: ns,
      plural: "volumesnapshots",
      name: "data-snap",
    });
    await custom.deleteClusterCustomObject({
      group: G,
      version: "v1",
      plural: "volumesnapshotcontents",
      name: content.metadata.name,
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await backend()).some((b) => b.metadata.name === handle)).toBe(true);

    // pre-provisioned content + snapshot from the handle, then a claim restored from it
    await custom.createClusterCustomObject({
      group: G,
      version: "v1",
      plural: "volumesnapshotcontents",
      body: {
        apiVersion: `${G}/v1`,
        kind: "VolumeSnapshotContent",
        metadata: { name: `restore-${ns}` },
        spec: {
          deletionPolicy: "Delete",
          driver: FAKE_CSI_DRIVER,
          source: { snapshotHandle: handle },
          volumeSnapshotRef: { name: "restored", namespace: ns },
        },
      },
    });
    await custom.createNamespacedCustomObject({
      group: G,
      version: "v1",
      namespace: ns,
      plural: "volumesnapshots",
      body: {
        apiVersion: `${G}/v1`,
        kind: "VolumeSnapshot",
        metadata: { name: "restored" },
        spec: { source: { volumeSnapshotContentName: `restore-${ns}` } },
      },
    });
    await h.core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: { name: "data-2" },
        spec: {
          storageClassName: "fast",
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: "2Gi" } },
          dataSource: { apiGroup: G, kind: "VolumeSnapshot", name: "restored" },
        },
      },
    });
    const restored = await until("restored claim bound", async () => {
      const c = await h.core.readNamespacedPersistentVolumeClaim({ name: "data-2", namespace: ns });
      return c.status?.phase === "Bound" ? c : undefined;
    });
    const pv = await h.core.readPersistentVolume({ name: restored.spec?.volumeName ?? "" });
    expect(pv.metadata?.annotations?.[VOLUME_DATA_ANNOTATION]).toBe("hello");

    // deleting a snapshot whose content says Delete deletes the backend snapshot
    await custom.deleteNamespacedCustomObject({
      group: G,
      version: "v1",
      namespace: ns,
      plural: "volumesnapshots",
      name: "restored",
    });
    await until("backend snapshot deleted", async () =>
      (await backend()).some((b) => b.metadata.name === handle) ? undefined : true,
    );
  });

  it("fails on demand, reports unknown handles, and refuses a snapshot with two sources", async () => {
    const ns = await freshNamespace(h);
    await boundClaim(ns, "broken", "x", { [FAIL_SNAPSHOT_ANNOTATION]: "disk is on fire" });
    const vs = await snapshot(ns, "broken-snap", "broken");
    expect(vs.status.readyToUse).toBe(false);
    expect(vs.status.error.message).toMatch(
      /failed to take snapshot of the volume vol-.*: "rpc error: code = Internal desc = disk is on fire"/,
    );

    await custom.createClusterCustomObject({
      group: G,
      version: "v1",
      plural: "volumesnapshotcontents",
      body: {
        apiVersion: `${G}/v1`,
        kind: "VolumeSnapshotContent",
        metadata: { name: `ghost-${ns}` },
        spec: {
          deletionPolicy: "Retain",
          driver: FAKE_CSI_DRIVER,
          source: { snapshotHandle: "snap-missing" },
          volumeSnapshotRef: { name: "ghost", namespace: ns },
        },
      },
    });
    const ghost = await until("content error", async () => {
      const c = await getVsc(`ghost-${ns}`);
      return c.status?.error ? c : undefined;
    });
    expect(ghost.status.error.message).toMatch(/snapshot snap-missing not found/);

    const bad = await statusOf(
      custom.createNamespacedCustomObject({
        group: G,
        version: "v1",
        namespace: ns,
        plural: "volumesnapshots",
        body: {
          apiVersion: `${G}/v1`,
          kind: "VolumeSnapshot",
          metadata: { name: "two" },
          spec: { source: { persistentVolumeClaimName: "a", volumeSnapshotContentName: "b" } },
        },
      }),
    );
    expect(bad.code).toBe(422);
    expect(bad.message).toMatch(/Exactly one of volumeSnapshotContentName and persistentVolumeClaimName/);
  });
});
