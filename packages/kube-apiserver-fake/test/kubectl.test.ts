import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshNamespace, type Harness, harness, until } from "./helpers.js";

// The real kubectl against the test server: what a person would type.
let h: Harness;
beforeAll(async () => {
  h = await harness({ workloads: true });
});
afterAll(() => h.close());

const manifest = (ns: string, value: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: ${ns}
  labels: {app: demo, tier: web}
data:
  value: "${value}"
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: demo
  namespace: ${ns}
  labels: {app: vcluster, release: demo}
spec:
  replicas: 1
  serviceName: demo
  selector: {matchLabels: {app: vcluster, release: demo}}
  template:
    metadata: {labels: {app: vcluster, release: demo}}
    spec:
      containers:
      - name: syncer
        image: ghcr.io/loft-sh/vcluster-pro:0.30.0
`;

describe("kubectl", () => {
  it("discovers the API: version, api-resources, --raw /api", async () => {
    const version = await h.kubectl("version", "-o", "json");
    expect(JSON.parse(version.stdout).serverVersion.gitVersion).toBe("v1.32.0-vsnap-fake");
    const raw = JSON.parse((await h.kubectl("get", "--raw", "/api")).stdout);
    expect(raw).toMatchObject({ kind: "APIVersions", versions: ["v1"] });
    const resources = (await h.kubectl("api-resources", "-o", "name")).stdout.split("\n");
    expect(resources).toEqual(
      expect.arrayContaining(["configmaps", "statefulsets.apps", "events.events.k8s.io", "secrets"]),
    );
  });

  it("applies (client-side), re-applies, gets with selectors, patches, scales and deletes", async () => {
    const ns = await freshNamespace(h, "kc");
    const file = path.join(path.dirname(h.kubeconfigPath), `${ns}.yaml`);
    writeFileSync(file, manifest(ns, "1"));
    expect((await h.kubectl("apply", "-f", file)).stdout).toBe(
      "configmap/settings created\nstatefulset.apps/demo created\n",
    );
    writeFileSync(file, manifest(ns, "2"));
    expect((await h.kubectl("apply", "-f", file)).stdout).toBe(
      "configmap/settings configured\nstatefulset.apps/demo unchanged\n",
    );
    const cm = JSON.parse((await h.kubectl("get", "cm", "settings", "-n", ns, "-o", "json")).stdout);
    expect(cm.data).toEqual({ value: "2" });
    expect(
      JSON.parse(cm.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]).data,
    ).toEqual({ value: "2" });

    const table = (await h.kubectl("get", "cm", "-n", ns, "-l", "tier in (web,db),app=demo")).stdout;
    expect(table).toMatch(/^NAME\s+DATA\s+AGE\nsettings\s+1\s+\d+s\n$/);
    expect((await h.kubectl("get", "cm", "-n", ns, "-l", "tier notin (web)", "-o", "name")).stdout).toBe("");
    expect((await h.kubectl("get", "cm", "-n", ns, "-l", "!tier", "-o", "name")).stdout).toBe("");

    await until(
      "pod",
      async () =>
        (await h.kubectl("get", "pods", "-n", ns, "-o", "name")).stdout === "pod/demo-0\n" || undefined,
    );
    expect((await h.kubectl("get", "sts", "demo", "-n", ns)).stdout).toMatch(/demo\s+1\/1/);

    await h.kubectl("patch", "cm", "settings", "-n", ns, "--type=merge", "-p", '{"data":{"extra":"x"}}');
    await h.kubectl(
      "patch",
      "cm",
      "settings",
      "-n",
      ns,
      "--type=json",
      "-p",
      '[{"op":"remove","path":"/data/value"}]',
    );
    await h.kubectl("label", "cm", "settings", "-n", ns, "tier-");
    const patched = JSON.parse((await h.kubectl("get", "cm", "settings", "-n", ns, "-o", "json")).stdout);
    expect(patched.data).toEqual({ extra: "x" });
    expect(patched.metadata.labels).toEqual({ app: "demo" });

    expect((await h.kubectl("scale", "sts", "demo", "-n", ns, "--replicas=0")).stdout).toBe(
      "statefulset.apps/demo scaled\n",
    );
    await until(
      "pods gone",
      async () => (await h.kubectl("get", "pods", "-n", ns, "-o", "name")).stdout === "" || undefined,
    );

    expect((await h.kubectl("delete", "-f", file)).stdout).toBe(
      'configmap "settings" deleted\nstatefulset.apps "demo" deleted\n',
    );
    const missing = await h.kubectl("get", "cm", "settings", "-n", ns).catch((e: { stderr: string }) => e);
    expect((missing as { stderr: string }).stderr).toBe(
      'Error from server (NotFound): configmaps "settings" not found\n',
    );
  });

  it("follows changes with get --watch", async () => {
    const ns = await freshNamespace(h, "kw");
    const child = spawn(
      "kubectl",
      ["--kubeconfig", h.kubeconfigPath, "get", "cm", "-n", ns, "--watch", "-o", "name"],
      {
        env: { ...process.env, KUBECONFIG: "" },
      },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    try {
      await new Promise((r) => setTimeout(r, 800));
      await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "w1" } } });
      await h.core.deleteNamespacedConfigMap({ name: "w1", namespace: ns });
      await until("two watch lines", () => out.split("\n").filter((l) => l).length >= 2 || undefined);
      expect(out).toBe("configmap/w1\nconfigmap/w1\n");
    } finally {
      child.kill();
    }
  });
});
