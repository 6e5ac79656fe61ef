import { describe, expect, inject, it } from "vitest";
import { assertRunning, findVCluster } from "../src/index.js";
import { rejection, testKube, unique, vcluster } from "./helpers.js";

const kube = testKube();

describe("findVCluster", () => {
  it("finds a running vCluster in its namespace or across namespaces", async () => {
    const vc = await vcluster(kube, { image: "ghcr.io/loft-sh/vcluster-pro:0.30.1" });
    const inNs = await findVCluster(kube, vc.name, { namespace: vc.namespace });
    expect(inNs).toMatchObject({
      name: vc.name,
      namespace: vc.namespace,
      status: "Running",
      version: "0.30.1",
    });
    expect(inNs.workload).toMatchObject({ kind: "StatefulSet", name: vc.name, replicas: 1 });
    const anywhere = await findVCluster(kube, vc.name);
    expect(anywhere.namespace).toBe(vc.namespace);
    expect(() => assertRunning(anywhere)).not.toThrow();
  });

  it("finds a Deployment-based vCluster", async () => {
    const vc = await vcluster(kube, { kind: "Deployment" });
    expect((await findVCluster(kube, vc.name)).workload.kind).toBe("Deployment");
  });

  it("asks for -n when the name exists in several namespaces", async () => {
    const name = unique("dup");
    const a = await vcluster(kube, { name });
    const b = await vcluster(kube, { name });
    const err = await rejection(findVCluster(kube, name));
    expect(err.code).toBe("INVALID_ARGUMENT");
    expect(err.message).toBe(
      `multiple vClusters named "${name}" found (namespaces: ${[a.namespace, b.namespace].sort().join(", ")})`,
    );
    expect(err.hint).toMatch(/^choose one with -n/);
    expect((await findVCluster(kube, name, { namespace: b.namespace })).namespace).toBe(b.namespace);
  });

  it("says where it looked when nothing matches", async () => {
    const err = await rejection(findVCluster(kube, "no-such-vc", { namespace: "default" }));
    expect(err.code).toBe("NOT_FOUND");
    expect(err.message).toBe('vCluster "no-such-vc" not found in namespace "default" of vsnap-fake');
  });
});

describe("status and the running guard", () => {
  it.each([
    [{ annotations: { "loft.sh/paused": "true" } }, "Paused", /annotation loft.sh\/paused=true/],
    [{ labels: { "loft.sh/sleep-mode": "true" } }, "Paused", /label loft.sh\/sleep-mode=true/],
    [
      { configSecretAnnotations: { "sleepmode.loft.sh/sleep-type": "sleep" } },
      "Sleeping",
      /sleepmode.loft.sh\/sleep-type=sleep/,
    ],
    [{ replicas: 0 }, "ScaledDown", /scaled to 0 replicas/],
  ])("%j is %s and refused with what to do", async (spec, status, reason) => {
    const vc = await vcluster(kube, spec);
    const found = await findVCluster(kube, vc.name, { namespace: vc.namespace });
    expect(found.status).toBe(status);
    expect(found.statusReason).toMatch(reason);
    let thrown: { code: string; message: string; hint?: string } | undefined;
    try {
      assertRunning(found);
    } catch (error) {
      thrown = error as typeof thrown;
    }
    expect(thrown?.code).toBe("FAILED_PRECONDITION");
    expect(thrown?.message).toMatch(
      new RegExp(
        `^cannot snapshot vCluster "${vc.name}" because it is not running \\(current status: "${status}"`,
      ),
    );
    expect(thrown?.hint).toMatch(status === "ScaledDown" ? /kubectl scale statefulset/ : /vcluster resume/);
  });
});

describe("connectKube", () => {
  it("honours KUBECONFIG-style files and --context, and names the contexts it knows", async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const { connectKube } = await import("../src/index.js");
    const dir = mkdtempSync(path.join(os.tmpdir(), "kube-ctx-"));
    try {
      const base = inject("kubeconfig");
      // a second context pointing nowhere, made the current one: --context must switch back
      const doubled = base
        .replace(
          "contexts:\n",
          "contexts:\n- name: broken\n  context:\n    cluster: broken\n    user: vsnap-fake\n    namespace: team-b\n",
        )
        .replace("clusters:\n", "clusters:\n- name: broken\n  cluster:\n    server: https://127.0.0.1:1\n")
        .replace("current-context: vsnap-fake", "current-context: broken");
      const file = path.join(dir, "config");
      writeFileSync(file, doubled);
      const viaDefault = connectKube({ kubeconfig: file });
      expect(viaDefault.namespace).toBe("team-b");
      const err = await rejection(findVCluster(viaDefault, "anything"));
      expect(err.code).toBe("UNAVAILABLE");
      const chosen = connectKube({ kubeconfig: file, context: "vsnap-fake" });
      expect(chosen.display).toBe("vsnap-fake");
      const vc = await vcluster(chosen);
      expect((await findVCluster(chosen, vc.name)).namespace).toBe(vc.namespace);
      expect(() => connectKube({ kubeconfig: file, context: "nope" })).toThrow(
        'context "nope" is not in the kubeconfig',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
