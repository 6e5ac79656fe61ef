import * as k8s from "@kubernetes/client-node";
import { createFakeVCluster, type FakeVClusterSpec } from "@vsnap/kube-apiserver-fake";
import { inject } from "vitest";
import { fromConfig, type Kube } from "../src/index.js";

export function testKube(): Kube {
  const config = new k8s.KubeConfig();
  config.loadFromString(inject("kubeconfig"));
  return fromConfig(config);
}

let n = 0;
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${n++}`;

/** A fake vCluster whose pods are Running (the fake server's workload controller makes them). */
export async function vcluster(
  kube: Kube,
  spec: Partial<FakeVClusterSpec> & { name?: string } = {},
): Promise<{ name: string; namespace: string }> {
  const name = spec.name ?? unique("vc");
  const namespace = spec.namespace ?? unique("ns");
  await createFakeVCluster(kube.config, { ...spec, name, namespace });
  if ((spec.replicas ?? 1) > 0) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const pods = await kube.core.listNamespacedPod({
        namespace,
        labelSelector: `app=vcluster,release=${name}`,
      });
      if (pods.items.some((p) => p.status?.phase === "Running")) break;
      if (Date.now() > deadline) throw new Error("fake vCluster pods did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { name, namespace };
}

export async function rejection(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; hint?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; message: string; hint?: string };
  }
  throw new Error("expected a rejection");
}
