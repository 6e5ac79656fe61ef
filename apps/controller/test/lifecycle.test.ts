import { createReadStream, existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { PluginRegistry, verifyArchive } from "@vsnap/core";
import { requestDeletion, requestSnapshot } from "@vsnap/kube";
import { containerStorePlugin } from "@vsnap/store-container";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ControllerProcess,
  eventsOf,
  fakeVCluster,
  fill,
  hostKube,
  startController,
  tempDir,
  until,
  type VirtualCluster,
  virtualCluster,
  waitForPhase,
} from "./harness.js";

const kube = hostKube();
const registry = PluginRegistry.of(containerStorePlugin);
let data: VirtualCluster;
let tmp: ReturnType<typeof tempDir>;
const running: ControllerProcess[] = [];

beforeAll(async () => {
  data = await virtualCluster();
  // ~400 KB of random data (~300 KB gzipped): at 40 KiB/s an upload takes ~8 s, long enough to interrupt
  await fill(data, "apps", 20, 20_000);
  tmp = tempDir();
});
afterAll(async () => {
  for (const c of running) await c.kill("SIGKILL");
  await data?.close();
  tmp?.close();
});

const etcdVCluster = () =>
  fakeVCluster(kube, {
    config: "controlPlane:\n  backingStore:\n    etcd:\n      deploy:\n        enabled: true\n",
  });

async function controllerFor(
  vc: { name: string; namespace: string },
  ...extra: string[]
): Promise<ControllerProcess> {
  const c = await startController([
    "--namespace",
    vc.namespace,
    "--vcluster",
    vc.name,
    "--etcd-endpoints",
    data.etcd.endpoint,
    "--lease-duration",
    "2s",
    "--progress-interval",
    "200ms",
    ...extra,
  ]);
  running.push(c);
  return c;
}

const urlFor = (file: string) => `container://${path.join(tmp.dir, file)}`;
const uploading = (r: { request: { status: { progress?: { archiveBytes: number } } } }) =>
  (r.request.status.progress?.archiveBytes ?? 0) > 0;

describe("controller lifecycle", () => {
  it("a newer request for the same URL cancels the older one mid-upload; only the newer is stored", async () => {
    const vc = await etcdVCluster();
    await controllerFor(vc, "--max-upload-rate", "40KiB");
    const url = urlFor("cancel.tar.gz");
    const older = (await requestSnapshot(kube, { name: vc.name, url, registry, env: {} })).request;
    await waitForPhase(kube, vc.namespace, older.name, ["CreatingEtcdBackup"], 15_000, uploading);
    expect(existsSync(path.join(tmp.dir, "cancel.tar.gz"))).toBe(false);
    const newer = (await requestSnapshot(kube, { name: vc.name, url, registry, env: {} })).request;
    const canceled = await waitForPhase(kube, vc.namespace, older.name, ["Canceled", "Completed", "Failed"]);
    expect(canceled.request.status).toMatchObject({ phase: "Canceled", canceledBy: newer.name });
    expect(existsSync(path.join(tmp.dir, "cancel.tar.gz"))).toBe(false);
    const done = await waitForPhase(kube, vc.namespace, newer.name, ["Completed", "Failed"], 60_000);
    expect(done.request.status.phase).toBe("Completed");
    const summary = await verifyArchive(createReadStream(path.join(tmp.dir, "cancel.tar.gz")));
    expect(summary.request?.metadata.name).toBe(newer.name);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith("cancel") || f.includes("cancel"))).toEqual([
      "cancel.tar.gz",
    ]);
    const events = await eventsOf(kube, vc.namespace, older.name);
    expect(events.map((e) => e.reason)).toEqual(["SnapshotStarted", "SnapshotCanceling", "SnapshotCanceled"]);
    expect(events[2]?.message).toBe(
      `canceled by newer request ${newer.name}; nothing was written to ${url} by this request`,
    );
  });

  it("survives SIGKILL mid-upload: nothing partial is visible, the next controller retries from scratch", async () => {
    const vc = await etcdVCluster();
    const first = await controllerFor(vc, "--max-upload-rate", "40KiB");
    const url = urlFor("crash.tar.gz");
    const { request } = await requestSnapshot(kube, { name: vc.name, url, registry, env: {} });
    await waitForPhase(kube, vc.namespace, request.name, ["CreatingEtcdBackup"], 15_000, uploading);
    await first.kill("SIGKILL");
    expect(existsSync(path.join(tmp.dir, "crash.tar.gz"))).toBe(false);
    const second = await controllerFor(vc);
    const done = await waitForPhase(kube, vc.namespace, request.name, ["Completed", "Failed"], 60_000);
    expect(done.request.status).toMatchObject({ phase: "Completed", attempts: 2 });
    expect((await verifyArchive(createReadStream(path.join(tmp.dir, "crash.tar.gz")))).verified).toBe(true);
    const events = await eventsOf(kube, vc.namespace, request.name);
    const retried = events.find((e) => e.reason === "SnapshotRetried");
    expect(retried?.type).toBe("Warning");
    expect(retried?.message).toMatch(
      /^controller \S+ stopped renewing its lease at \S+ \(it crashed or was killed, e.g. out of memory\); retrying the snapshot from scratch \(attempt 2 of 2\)$/,
    );
    expect(second.logs()).toMatch(/saved \d+ keys/);
  });

  it("fails a request with the precise reason once its attempts are used up", async () => {
    const vc = await etcdVCluster();
    const first = await controllerFor(vc, "--max-upload-rate", "40KiB", "--max-attempts", "1");
    const { request } = await requestSnapshot(kube, {
      name: vc.name,
      url: urlFor("crash-twice.tar.gz"),
      registry,
      env: {},
    });
    await waitForPhase(kube, vc.namespace, request.name, ["CreatingEtcdBackup"], 15_000, uploading);
    await first.kill("SIGKILL");
    await controllerFor(vc, "--max-attempts", "1");
    const failed = await waitForPhase(kube, vc.namespace, request.name, ["Failed", "Completed"], 30_000);
    expect(failed.request.status.phase).toBe("Failed");
    expect(failed.request.status.error.message).toMatch(
      /^snapshot interrupted: controller \S+ stopped renewing its lease at \S+ \(it crashed or was killed, e.g. out of memory\); giving up after 1 attempt$/,
    );
    expect(existsSync(path.join(tmp.dir, "crash-twice.tar.gz"))).toBe(false);
  });

  it("reports a failure in the status and as a Warning event, and drops the options Secret", async () => {
    const vc = await etcdVCluster();
    await controllerFor(vc);
    // a file where the snapshot's folder should be
    writeFileSync(path.join(tmp.dir, "blocker"), "");
    const url = urlFor("blocker/x.tar.gz");
    const { request } = await requestSnapshot(kube, { name: vc.name, url, registry, env: {} });
    const failed = await waitForPhase(kube, vc.namespace, request.name, ["Failed", "Completed"]);
    expect(failed.request.status.phase).toBe("Failed");
    expect(failed.request.status.error.message).toBe(
      `cannot write ${url}: ${path.join(tmp.dir, "blocker")} is a file, not a directory (choose a path whose parent folders are directories)`,
    );
    const warning = await until("SnapshotFailed event", async () =>
      (await eventsOf(kube, vc.namespace, request.name)).find((e) => e.reason === "SnapshotFailed"),
    );
    expect(warning?.type).toBe("Warning");
    expect(warning?.message).toBe(failed.request.status.error.message);
    await until(
      "options Secret deleted",
      async () =>
        (
          await kube.core.listNamespacedSecret({
            namespace: vc.namespace,
            fieldSelector: `metadata.name=${request.name}`,
          })
        ).items.length === 0 || undefined,
    );
  });

  it("deletes a stored snapshot on a delete request, runs different URLs in parallel, and removes finished requests after the TTL", async () => {
    const vc = await etcdVCluster();
    await controllerFor(
      vc,
      "--max-upload-rate",
      "256KiB",
      "--max-concurrent",
      "2",
      "--request-ttl",
      "3s",
      "--cleanup-interval",
      "300ms",
    );
    const a = (await requestSnapshot(kube, { name: vc.name, url: urlFor("par-a.tar.gz"), registry, env: {} }))
      .request;
    const b = (await requestSnapshot(kube, { name: vc.name, url: urlFor("par-b.tar.gz"), registry, env: {} }))
      .request;
    const doneA = await waitForPhase(kube, vc.namespace, a.name, ["Completed"], 60_000);
    const doneB = await waitForPhase(kube, vc.namespace, b.name, ["Completed"], 60_000);
    // both ran at once: each started before the other finished
    expect(Date.parse(doneB.request.status.startTime ?? "")).toBeLessThan(
      Date.parse(doneA.request.status.completionTime ?? ""),
    );
    expect(Date.parse(doneA.request.status.startTime ?? "")).toBeLessThan(
      Date.parse(doneB.request.status.completionTime ?? ""),
    );

    const del = (
      await requestDeletion(kube, { name: vc.name, url: urlFor("par-a.tar.gz"), registry, env: {} })
    ).request;
    const deleted = await waitForPhase(kube, vc.namespace, del.name, ["Deleted", "Failed"]);
    expect(deleted.request.status.phase).toBe("Deleted");
    expect(existsSync(path.join(tmp.dir, "par-a.tar.gz"))).toBe(false);
    expect(existsSync(path.join(tmp.dir, "par-b.tar.gz"))).toBe(true);

    // Deleted is terminal: no more writes (vCluster's finalizer loop), then the TTL removes it
    const rv = deleted.resourceVersion;
    await new Promise((r) => setTimeout(r, 1000));
    const later = await kube.core
      .readNamespacedConfigMap({ name: del.name, namespace: vc.namespace })
      .catch(() => undefined);
    if (later) expect(later.metadata?.resourceVersion).toBe(rv);
    await until(
      "finished requests removed after the TTL",
      async () =>
        (
          await kube.core.listNamespacedConfigMap({
            namespace: vc.namespace,
            labelSelector: "vsnap.dev/snapshot-request",
          })
        ).items.length === 0 || undefined,
      20_000,
    );
  });
});
