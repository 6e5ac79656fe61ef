import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  csiController,
  FAULTS_CONFIGMAP,
  jobController,
  rewritePaths,
  storageResourceRegistry,
} from "../src/index.js";
import { freshNamespace, type Harness, harness, until } from "./helpers.js";

let h: Harness;
let batch: k8s.BatchV1Api;
let dir: string;

// the "image": a node script that writes what it was given into its data volume
const SCRIPT = `
const fs = require("node:fs");
const [file, text, mode] = process.argv.slice(2);
if (mode === "slow") { console.log("step one"); setTimeout(() => console.log("never"), 30000); return; }
fs.writeFileSync(file, text + ":" + process.env.TOKEN);
if (mode === "fail") { console.error("it went wrong"); process.exit(3); }
fs.writeFileSync(process.env.RESULT, "done " + text);
`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "fake-jobs-"));
  writeFileSync(path.join(dir, "tool.cjs"), SCRIPT);
  h = await harness({ resources: storageResourceRegistry() });
  await h.api.addController(csiController());
  await h.api.addController(
    jobController({ binaries: { tool: [process.execPath, path.join(dir, "tool.cjs")] } }),
  );
  batch = h.kc.makeApiClient(k8s.BatchV1Api);
});
afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

async function dataClaim(ns: string): Promise<string> {
  const local = mkdtempSync(path.join(dir, "pv-"));
  await h.core.createPersistentVolume({
    body: {
      metadata: { name: `pv-${ns}` },
      spec: { capacity: { storage: "1Gi" }, accessModes: ["ReadWriteOnce"], hostPath: { path: local } },
    },
  });
  await h.core.createNamespacedPersistentVolumeClaim({
    namespace: ns,
    body: {
      metadata: { name: "data" },
      spec: {
        volumeName: `pv-${ns}`,
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1Gi" } },
      },
    },
  });
  return local;
}

function job(name: string, args: string[], backoffLimit = 0): k8s.V1Job {
  return {
    metadata: { name },
    spec: {
      backoffLimit,
      template: {
        spec: {
          restartPolicy: "Never",
          volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data" } }],
          containers: [
            {
              name: "main",
              image: "example/tool:1",
              command: ["tool"],
              args,
              env: [
                { name: "TOKEN", valueFrom: { secretKeyRef: { name: "creds", key: "token" } } },
                { name: "RESULT", value: "/dev/termination-log" },
              ],
              volumeMounts: [{ name: "data", mountPath: "/data" }],
              terminationMessagePolicy: "FallbackToLogsOnError",
            },
          ],
        },
      },
    },
  };
}

async function finished(ns: string, name: string): Promise<k8s.V1Job> {
  return until(
    `job ${name} finished`,
    async () => {
      const j = await batch.readNamespacedJob({ name, namespace: ns });
      return (j.status?.conditions ?? []).some((c) => c.status === "True") ? j : undefined;
    },
    20_000,
  );
}

async function podOf(ns: string, name: string): Promise<k8s.V1Pod[]> {
  return (await h.core.listNamespacedPod({ namespace: ns, labelSelector: `job-name=${name}` })).items;
}

describe("simulated job runner", () => {
  it("runs the container with its PVC mounted, secrets in env, and records the termination message", async () => {
    const ns = await freshNamespace(h);
    const local = await dataClaim(ns);
    await h.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "creds" }, stringData: { token: "s3cr3t" } },
    });
    await batch.createNamespacedJob({ namespace: ns, body: job("ok", ["/data/out.txt", "hi"]) });
    const done = await finished(ns, "ok");
    expect(done.status?.conditions?.[0]).toMatchObject({ type: "Complete", status: "True" });
    expect(done.status?.succeeded).toBe(1);
    expect(readFileSync(path.join(local, "out.txt"), "utf8")).toBe("hi:s3cr3t");
    const [pod] = await podOf(ns, "ok");
    expect(pod?.status?.phase).toBe("Succeeded");
    expect(pod?.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
      exitCode: 0,
      reason: "Completed",
      message: "done hi",
    });
  });

  it("retries up to backoffLimit, then fails with the log tail as the message", async () => {
    const ns = await freshNamespace(h);
    await dataClaim(ns);
    await h.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "creds" }, stringData: { token: "t" } },
    });
    await batch.createNamespacedJob({ namespace: ns, body: job("bad", ["/data/out.txt", "x", "fail"], 1) });
    const done = await finished(ns, "bad");
    expect(done.status?.conditions?.[0]).toMatchObject({ type: "Failed", reason: "BackoffLimitExceeded" });
    expect(done.status?.failed).toBe(2);
    const pods = await podOf(ns, "bad");
    expect(pods).toHaveLength(2);
    expect(pods[0]?.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
      exitCode: 3,
      reason: "Error",
      message: "it went wrong\n",
    });
  });

  it("kills a container on demand (OOM) and waits for an unbound claim", async () => {
    const ns = await freshNamespace(h);
    await h.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "creds" }, stringData: { token: "t" } },
    });
    await h.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: FAULTS_CONFIGMAP }, data: { "kill-on-output": "step one" } },
    });
    await batch.createNamespacedJob({ namespace: ns, body: job("slow", ["/data/x", "y", "slow"]) });
    const waiting = await until("pod waits for its claim", async () => {
      const [p] = await podOf(ns, "slow");
      return p?.status?.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False")
        ? p
        : undefined;
    });
    expect(waiting.status?.conditions?.[0]?.message).toMatch(/persistentvolumeclaim "data" not found/);
    await dataClaim(ns);
    const done = await finished(ns, "slow");
    expect(done.status?.conditions?.[0]).toMatchObject({ type: "Failed" });
    const [pod] = await podOf(ns, "slow");
    expect(pod?.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
      exitCode: 137,
      reason: "OOMKilled",
    });
    const faults = await h.core.readNamespacedConfigMap({ name: FAULTS_CONFIGMAP, namespace: ns });
    expect(faults.data?.["kill-on-output"]).toBeUndefined();
  });

  it("rewrites mount paths in args and URLs, longest mount first", () => {
    const mounts = new Map([
      ["/data", "/tmp/a"],
      ["/data/etcd", "/tmp/b"],
    ]);
    expect(rewritePaths("/data/state.db", mounts)).toBe("/tmp/a/state.db");
    expect(rewritePaths("container:///data/snap.tar.gz", mounts)).toBe("container:///tmp/a/snap.tar.gz");
    expect(rewritePaths("--dir=/data/etcd/member", mounts)).toBe("--dir=/tmp/b/member");
    expect(rewritePaths("/database", mounts)).toBe("/database");
  });
});
