import type { KeyValue } from "@vsnap/core";
import { describe, expect, it } from "vitest";
import {
  compactDiff,
  compareConfigs,
  decodeResult,
  diffKeyValues,
  encodeResult,
  helmInstallPlan,
  isCloneDropped,
  RESULT_LIMIT,
  resourceTypeOf,
  sanitisePvc,
  type VolumeSnapshotRecord,
  volumeSnapshotsStatus,
} from "../src/index.js";

const kv = (key: string, value = "v"): KeyValue => ({ key, value: Buffer.from(value) });
async function* stream(items: KeyValue[]): AsyncIterable<KeyValue> {
  yield* [...items].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
}

describe("restore diff", () => {
  it("names resource types from kube-apiserver's key layout", () => {
    expect(resourceTypeOf("/registry/configmaps/ns/a")).toBe("configmaps");
    expect(resourceTypeOf("/registry/namespaces/ns")).toBe("namespaces");
    expect(resourceTypeOf("/registry/apiextensions.k8s.io/customresourcedefinitions/x.example.com")).toBe(
      "customresourcedefinitions.apiextensions.k8s.io",
    );
    expect(resourceTypeOf("/registry/example.com/widgets/ns/w1")).toBe("widgets.example.com");
    expect(resourceTypeOf("/vcluster/mappings/configmaps/x")).toBe("/vcluster/mappings");
  });

  it("drops what --new-vcluster drops, and nothing else", () => {
    expect(isCloneDropped("/vcluster/mappings/secrets/a")).toBe(true);
    expect(isCloneDropped("/registry/configmaps/default/kube-root-ca.crt")).toBe(true);
    expect(isCloneDropped("/registry/configmaps/default/kube-root-ca.crt.backup")).toBe(false);
    expect(isCloneDropped("/registry/secrets/default/kube-root-ca.crt")).toBe(false);
  });

  it("counts added, removed, changed and unchanged keys per type in one merge pass", async () => {
    const live = [
      kv("/registry/configmaps/a/one"),
      kv("/registry/configmaps/a/two", "old"),
      kv("/registry/pods/a/p"),
      kv("/registry/secrets/a/é"),
    ];
    const archive = [
      kv("/registry/configmaps/a/two", "new"),
      kv("/registry/configmaps/a/three"),
      kv("/registry/pods/a/p"),
      kv("/registry/secrets/a/é"),
      kv("/registry/secrets/a/z"),
      kv("/vcluster/mappings/x"),
    ];
    const diff = await diffKeyValues(stream(live), stream(archive), { drop: isCloneDropped });
    expect(diff.totals).toEqual({ added: 2, removed: 1, changed: 1, unchanged: 2 });
    expect(diff.dropped).toBe(1);
    expect(diff.liveKeys).toBe(4);
    expect(diff.archiveKeys).toBe(5);
    const cm = diff.types.find((t) => t.type === "configmaps");
    expect(cm).toMatchObject({
      added: 1,
      removed: 1,
      changed: 1,
      unchanged: 0,
      examples: { added: ["a/three"], removed: ["a/one"], changed: ["a/two"] },
    });
    expect(diff.types.find((t) => t.type === "secrets")).toMatchObject({ added: 1, unchanged: 1 });
  });

  it("keeps a large diff within a termination message, counts first", async () => {
    const archive: KeyValue[] = [];
    for (let t = 0; t < 40; t++)
      for (let i = 0; i < 10; i++)
        archive.push(kv(`/registry/type-number-${t}/ns/object-with-a-long-name-${i}`));
    const diff = await diffKeyValues(stream([]), stream(archive));
    expect(Buffer.byteLength(JSON.stringify(diff))).toBeGreaterThan(3500);
    const small = compactDiff(diff);
    expect(Buffer.byteLength(JSON.stringify(small))).toBeLessThanOrEqual(3500);
    expect(small.totals.added).toBe(400);
    expect(small.types.reduce((n, t) => n + t.added, 0)).toBe(400);
  });
});

describe("restore-data result protocol", () => {
  it("round-trips through a termination message and fits its 4 KiB by shortening the steps", () => {
    const steps = Array.from({ length: 200 }, (_, i) => `step ${i}: something happened to /data/state.db`);
    const text = encodeResult({
      v: 1,
      action: "restore",
      ok: false,
      steps,
      error: "boom",
      oldDataInPlace: true,
    });
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(RESULT_LIMIT);
    const back = decodeResult(`some log line\n${text}`);
    expect(back).toMatchObject({ ok: false, error: "boom", oldDataInPlace: true });
    expect(back?.steps.at(-1)).toBe(steps.at(-1));
    expect(decodeResult("exit status 1")).toBeUndefined();
  });
});

describe("volume records and status", () => {
  it("records a PVC without status, managed fields or binding annotations", () => {
    const pvc = sanitisePvc({
      metadata: {
        name: "data",
        namespace: "ns",
        uid: "u1",
        resourceVersion: "7",
        annotations: { "pv.kubernetes.io/bind-completed": "yes", keep: "me" },
        managedFields: [{}],
      },
      spec: { storageClassName: "fast", volumeName: "pv-1", resources: { requests: { storage: "1Gi" } } },
      status: { phase: "Bound" },
    });
    expect(pvc).toEqual({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "data", namespace: "ns", annotations: { keep: "me" } },
      spec: { storageClassName: "fast", volumeName: "pv-1", resources: { requests: { storage: "1Gi" } } },
    });
  });

  it("aggregates like vCluster: PartiallyFailed with a count, Failed when all fail, skipped ones not counted", () => {
    const base = { persistentVolumeClaim: {}, key: "" };
    const r = (key: string, phase: VolumeSnapshotRecord["phase"], reason?: string): VolumeSnapshotRecord => ({
      ...base,
      key,
      phase,
      ...(reason ? { reason } : {}),
    });
    const partial = volumeSnapshotsStatus(
      [r("a", "Completed"), r("b", "Failed", "no quota"), r("c", "Skipped", "hostPath")],
      new Set(),
    );
    expect(partial).toMatchObject({
      phase: "PartiallyFailed",
      total: 2,
      completed: 1,
      failed: 1,
      skipped: 1,
      error: { message: "1 out of 2 volume snapshots have failed" },
    });
    expect(partial.snapshots.b).toEqual({ phase: "Failed", error: { message: "no quota" } });
    const withSpec = volumeSnapshotsStatus(
      [
        {
          ...r("d", "Completed"),
          csiDriver: "x.csi",
          snapshotHandle: "h1",
          persistentVolumeClaim: { spec: { storageClassName: "fast" } },
        },
      ],
      new Set(),
    );
    expect(withSpec.snapshots.d).toEqual({
      phase: "Completed",
      snapshotHandle: "h1",
      csiDriver: "x.csi",
      pvcSpec: { storageClassName: "fast" },
    });
    expect(volumeSnapshotsStatus([r("b", "Failed")], new Set()).error?.message).toBe(
      "all volume snapshots have failed",
    );
    expect(volumeSnapshotsStatus([r("c", "Skipped")], new Set()).phase).toBe("Skipped");
    expect(volumeSnapshotsStatus([r("a", "Completed")], new Set(["x"])).phase).toBe("InProgress");
  });
});

describe("creating the vCluster a snapshot came from", () => {
  it("uses the snapshot's Helm values and chart version", () => {
    const values = "controlPlane:\n  distro: k8s\n";
    const plan = helmInstallPlan(
      {
        release: {
          releaseName: "a",
          releaseNamespace: "x",
          chartName: "vcluster",
          chartVersion: "0.30.1",
          values: Buffer.from(values).toString("base64"),
        },
      },
      { name: "b", namespace: "y z" },
      "/tmp/b-values.yaml",
    );
    expect(plan.valuesYaml).toBe(values);
    expect(plan.command).toBe(
      "helm upgrade --install b vcluster --repo https://charts.loft.sh --version 0.30.1 --namespace 'y z' --create-namespace --values /tmp/b-values.yaml",
    );
    expect(compareConfigs("a: 1\nb: {c: 2}\n", "a: 1\nb:\n  c: 3\n")).toEqual({
      identical: false,
      changedKeys: ["b"],
    });
    expect(compareConfigs("a: 1\n", "a: 1")).toEqual({ identical: true, changedKeys: [] });
  });
});
