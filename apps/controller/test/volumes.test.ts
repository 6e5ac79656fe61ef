import { createReadStream, existsSync } from "node:fs";
import path from "node:path";
import { verifyArchive } from "@vsnap/core";
import { listRequests, type VolumeSnapshotRecord } from "@vsnap/kube";
import { FAIL_SNAPSHOT_ANNOTATION } from "@vsnap/kube-apiserver-fake";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  backendSnapshots,
  type ControllerProcess,
  controller,
  type FakeVc,
  fakeVc,
  kineEntries,
  merge,
  type RestoreCluster,
  restoreCluster,
  snapshotObjects,
  syncedPvc,
  vsnap,
  writeKine,
} from "./restore-harness.js";

let rc: RestoreCluster;
let vc: FakeVc;
let ctl: ControllerProcess;
const pvcs: Record<string, string> = {};

beforeAll(async () => {
  rc = await restoreCluster();
  vc = await fakeVc(rc);
  await writeKine(vc.sqlite!, kineEntries("apps", ["a", "b", "c"], "v1"));
  pvcs.db = await syncedPvc(rc, vc, "db-data", "rows of the database");
  pvcs.cache = await syncedPvc(rc, vc, "cache", "cached things");
  // a local (non-CSI) volume and a claim that never bound: skipped with the reason
  await rc.kube.core.createPersistentVolume({
    body: {
      metadata: { name: `local-${vc.namespace}` },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteOnce"],
        hostPath: { path: path.join(rc.dir, "local") },
      },
    },
  });
  await rc.kube.core.createNamespacedPersistentVolumeClaim({
    namespace: vc.namespace,
    body: {
      metadata: { name: `logs-x-default-x-${vc.name}`, labels: { "vcluster.loft.sh/managed-by": vc.name } },
      spec: {
        volumeName: `local-${vc.namespace}`,
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1Gi" } },
      },
    },
  });
  await rc.kube.core.createNamespacedPersistentVolumeClaim({
    namespace: vc.namespace,
    body: {
      metadata: {
        name: `pending-x-default-x-${vc.name}`,
        labels: { "vcluster.loft.sh/managed-by": vc.name },
      },
      spec: {
        storageClassName: "no-such-class",
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1Gi" } },
      },
    },
  });
  ctl = await controller(rc, vc, ["--sqlite", vc.sqlite!]);
}, 120_000);
afterAll(async () => {
  await ctl?.kill();
  await rc?.close();
});

const url = (file: string) => `container://${path.join(rc.dir, file)}`;

async function volumesOf(file: string): Promise<VolumeSnapshotRecord[]> {
  const summary = await verifyArchive(createReadStream(path.join(rc.dir, file)));
  expect(summary.verified).toBe(true);
  return (summary.volumes ?? []) as VolumeSnapshotRecord[];
}

describe("snapshot create --include-volumes", () => {
  it("snapshots every bound CSI volume, records its handle, keeps the backend snapshot and removes the objects", async () => {
    const before = (await backendSnapshots(rc)).length;
    const created = await vsnap(rc, [
      "snapshot",
      "create",
      vc.name,
      url("all.tar.gz"),
      "-n",
      vc.namespace,
      "--include-volumes",
      "--wait",
    ]);
    expect(created.stderr).not.toMatch(/error/);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/Completed/);

    const records = await volumesOf("all.tar.gz");
    const byKey = new Map(records.map((r) => [r.key, r]));
    const db = byKey.get(`${vc.namespace}/${pvcs.db}`);
    expect(db).toMatchObject({
      phase: "Completed",
      csiDriver: "hostpath.csi.fake.vsnap.dev",
      volumeSnapshotClassName: "fast-snapshots",
      virtual: { name: "db-data", namespace: "default" },
    });
    expect(db?.snapshotHandle).toMatch(/^snap-/);
    // the recorded claim is sanitised: no status, no binding annotations
    expect(db?.persistentVolumeClaim.status).toBeUndefined();
    expect(
      db?.persistentVolumeClaim.metadata?.annotations?.["pv.kubernetes.io/bind-completed"],
    ).toBeUndefined();
    expect(db?.persistentVolumeClaim.spec?.storageClassName).toBe("fast");
    expect(byKey.get(`${vc.namespace}/logs-x-default-x-${vc.name}`)).toMatchObject({
      phase: "Skipped",
      reason: expect.stringMatching(/not a CSI volume \(hostPath volume\)/),
    });
    expect(byKey.get(`${vc.namespace}/pending-x-default-x-${vc.name}`)).toMatchObject({
      phase: "Skipped",
      reason: expect.stringMatching(/not Bound/),
    });

    // the backend keeps both snapshots, with the volumes' data; no Kubernetes objects are left
    const backend = await backendSnapshots(rc);
    expect(backend.length).toBe(before + 2);
    expect(backend.find((b) => b.name === db?.snapshotHandle)?.data).toBe("rows of the database");
    expect(await snapshotObjects(rc)).toEqual([]);

    // the request status says the same per volume
    const request = (await listRequests(rc.kube, vc.namespace, { vcluster: vc.name })).find(
      (r) => r.request.spec.url === url("all.tar.gz"),
    );
    const status = request?.request.status.volumeSnapshots;
    expect(status).toMatchObject({ phase: "Completed", completed: 2, total: 2, skipped: 2 });
    expect(status?.snapshots[`${vc.namespace}/${pvcs.db}`]).toMatchObject({
      phase: "Completed",
      snapshotHandle: db?.snapshotHandle,
      csiDriver: "hostpath.csi.fake.vsnap.dev",
      volumeSnapshotClassName: "fast-snapshots",
      pvcSpec: { storageClassName: "fast" },
    });

    const get = await vsnap(rc, ["snapshot", "get", vc.name, url("all.tar.gz"), "-n", vc.namespace]);
    expect(get.code).toBe(0);
    expect(get.stdout).toMatch(/SNAPSHOT\s+\|\s+STATUS\s+\|\s+AGE\s+\|\s+SAVED\s+\|\s+VOLUMES/);
    expect(get.stdout).toMatch(/\| Completed\s+\|.*\|\s+2\/2\s+\|/);
    expect(get.stdout).toContain(
      `${vc.namespace}/logs-x-default-x-${vc.name}: Skipped: volume local-${vc.namespace} is not a CSI volume`,
    );
  });

  it("is PartiallyFailed when one volume fails, with each failure's reason; the others and the data are saved", async () => {
    await rc.kube.core.patchNamespacedPersistentVolumeClaim(
      {
        name: pvcs.cache!,
        namespace: vc.namespace,
        body: { metadata: { annotations: { [FAIL_SNAPSHOT_ANNOTATION]: "quota exceeded for snapshots" } } },
      },
      merge,
    );
    try {
      const created = await vsnap(rc, [
        "snapshot",
        "create",
        vc.name,
        url("partial.tar.gz"),
        "-n",
        vc.namespace,
        "--include-volumes",
        "--wait",
      ]);
      expect(created.code).toBe(1);
      const get = await vsnap(rc, ["snapshot", "get", vc.name, url("partial.tar.gz"), "-n", vc.namespace]);
      expect(get.stdout).toMatch(/\| PartiallyFailed\s+\|.*\|\s+1\/2\s+\|/);
      expect(get.stdout).toMatch(
        /Error: 1 out of 2 volume snapshots have failed: .*cache-x-default-x-.*quota exceeded for snapshots/,
      );
      expect(get.stdout).toMatch(
        new RegExp(`${pvcs.cache}: Failed: .*rpc error: code = Internal desc = quota exceeded for snapshots`),
      );
      const json = JSON.parse(
        (
          await vsnap(rc, [
            "snapshot",
            "get",
            vc.name,
            url("partial.tar.gz"),
            "-n",
            vc.namespace,
            "-o",
            "json",
          ])
        ).stdout,
      );
      expect(json).toMatchObject({ status: "PartiallyFailed", volumes: "1/2" });

      const records = await volumesOf("partial.tar.gz");
      expect(records.filter((r) => r.phase === "Completed").map((r) => r.key)).toEqual([
        `${vc.namespace}/${pvcs.db}`,
      ]);
      expect(records.find((r) => r.key.endsWith(pvcs.cache!))?.reason).toMatch(/quota exceeded/);
      // the failed snapshot left nothing behind, in Kubernetes or in the backend
      expect(await snapshotObjects(rc)).toEqual([]);
      const events = await rc.kube.core.listNamespacedEvent({ namespace: vc.namespace });
      expect(
        events.items.some(
          (e) => e.reason === "SnapshotPartiallyFailed" && /quota exceeded/.test(e.message ?? ""),
        ),
      ).toBe(true);
    } finally {
      await rc.kube.core.patchNamespacedPersistentVolumeClaim(
        {
          name: pvcs.cache!,
          namespace: vc.namespace,
          body: { metadata: { annotations: { [FAIL_SNAPSHOT_ANNOTATION]: null } } },
        },
        merge,
      );
    }
  });

  it("delete removes the backend volume snapshots, then the archive", async () => {
    const records = await volumesOf("all.tar.gz");
    const handles = records.filter((r) => r.snapshotHandle).map((r) => r.snapshotHandle);
    expect(handles).toHaveLength(2);
    const deleted = await vsnap(rc, [
      "snapshot",
      "delete",
      vc.name,
      url("all.tar.gz"),
      "-n",
      vc.namespace,
      "--wait",
    ]);
    expect(deleted.code).toBe(0);
    const left = (await backendSnapshots(rc)).map((b) => b.name);
    for (const h of handles) expect(left).not.toContain(h);
    expect(existsSync(path.join(rc.dir, "all.tar.gz"))).toBe(false);
    expect(await snapshotObjects(rc)).toEqual([]);
  });
});
