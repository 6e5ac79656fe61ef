import { createReadStream } from "node:fs";
import path from "node:path";
import { etcdTarget } from "@vsnap/backing-etcd";
import { archiveKeyValues, PluginRegistry, readArchive, restoreSnapshot, verifyArchive } from "@vsnap/core";
import { requestSnapshot } from "@vsnap/kube";
import { containerStorePlugin } from "@vsnap/store-container";
import { startEtcd } from "@vsnap/test-servers/etcd";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ControllerProcess,
  eventsOf,
  fakeVCluster,
  fill,
  hostKube,
  startController,
  tempDir,
  type VirtualCluster,
  virtualCluster,
  waitForPhase,
} from "./harness.js";

const kube = hostKube();
const registry = PluginRegistry.of(containerStorePlugin);

describe("etcd-backed vCluster", () => {
  let data: VirtualCluster;
  let tmp: ReturnType<typeof tempDir>;
  let vc: { name: string; namespace: string };
  let controller: ControllerProcess;

  beforeAll(async () => {
    data = await virtualCluster();
    await fill(data, "apps", 20, 2048);
    tmp = tempDir();
    vc = await fakeVCluster(kube, {
      config: "controlPlane:\n  backingStore:\n    etcd:\n      deploy:\n        enabled: true\n",
      helm: {
        chartVersion: "0.30.0",
        values: { controlPlane: { backingStore: { etcd: { deploy: { enabled: true } } } } },
      },
    });
    controller = await startController([
      "--namespace",
      vc.namespace,
      "--vcluster",
      vc.name,
      "--etcd-endpoints",
      data.etcd.endpoint,
      "--lease-duration",
      "3s",
      "--progress-interval",
      "200ms",
    ]);
  });
  afterAll(async () => {
    await controller?.kill();
    await data?.close();
    tmp?.close();
  });

  it("takes the snapshot a request asks for; the archive restores to the same keys", async () => {
    const url = `container://${path.join(tmp.dir, "snap-1.tar.gz")}`;
    const { request } = await requestSnapshot(kube, { name: vc.name, url, registry, env: {} });
    const done = await waitForPhase(kube, vc.namespace, request.name, ["Completed", "Failed"]);
    expect(done.request.status.error).toEqual({});
    expect(done.request.status.phase).toBe("Completed");
    expect(done.request.status.result).toMatchObject({ backingStore: "etcd" });
    expect(done.request.status.attempts).toBe(1);
    expect(done.request.status.lease).toBeUndefined();

    const file = path.join(tmp.dir, "snap-1.tar.gz");
    const summary = await verifyArchive(createReadStream(file));
    expect(summary.verified).toBe(true);
    expect(summary.release).toMatchObject({ releaseName: vc.name, chartVersion: "0.30.0" });
    expect(summary.request?.metadata.name).toBe(request.name);
    expect(summary.vclusterConfig).toContain("deploy:");
    expect(summary.keys).toBe(done.request.status.result?.keys);

    // every key of the vCluster's etcd at the snapshot revision, restored into a fresh etcd
    const fresh = await startEtcd();
    try {
      const archived = new Map<string, string>();
      for await (const kv of archiveKeyValues(readArchive(createReadStream(file))))
        archived.set(kv.key, Buffer.from(kv.value).toString("base64"));
      expect(
        [...archived.keys()].filter((k) => k.startsWith("/registry/configmaps/apps/blob-")),
      ).toHaveLength(20);
      const { result } = await restoreSnapshot({
        store: (await registry.open(url)).store,
        key: "snap-1.tar.gz",
        target: etcdTarget({ endpoints: fresh.endpoint }),
      });
      expect(result.keys).toBe(archived.size);
    } finally {
      await fresh.close();
    }

    // its options Secret (credentials) is gone; events tell the story
    expect(
      (
        await kube.core.listNamespacedSecret({
          namespace: vc.namespace,
          fieldSelector: `metadata.name=${request.name}`,
        })
      ).items,
    ).toEqual([]);
    const events = await eventsOf(kube, vc.namespace, request.name);
    expect(events.map((e) => e.reason)).toEqual(["SnapshotStarted", "SnapshotCompleted"]);
  });
});
