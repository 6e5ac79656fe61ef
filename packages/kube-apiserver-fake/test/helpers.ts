import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { inject } from "vitest";
import {
  type FakeApiServer,
  type FakeApiServerOptions,
  startFakeApiServer,
  workloadController,
} from "../src/index.js";

export const run = promisify(execFile);

export interface Harness {
  api: FakeApiServer;
  kc: k8s.KubeConfig;
  kubeconfigPath: string;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }>;
  etcdctl(...args: string[]): Promise<string>;
  close(): Promise<void>;
}

/** A test API server on the shared real etcd, a client-node KubeConfig and a kubeconfig file. */
export async function harness(
  options: Partial<FakeApiServerOptions> & { workloads?: boolean } = {},
): Promise<Harness> {
  const api = await startFakeApiServer({
    ...options,
    etcd: { endpoints: [inject("etcdEndpoint")] },
    controllers: options.workloads ? [workloadController()] : [],
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromString(api.kubeconfig());
  const dir = mkdtempSync(path.join(os.tmpdir(), "fake-api-test-"));
  const kubeconfigPath = path.join(dir, "kubeconfig");
  writeFileSync(kubeconfigPath, api.kubeconfig());
  return {
    api,
    kc,
    kubeconfigPath,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    kubectl: (...args) =>
      run("kubectl", ["--kubeconfig", kubeconfigPath, ...args], { env: { ...process.env, KUBECONFIG: "" } }),
    etcdctl: async (...args) => (await run("etcdctl", [...inject("etcdctlArgs"), ...args])).stdout,
    async close() {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let counter = 0;
/** A namespace of its own for each test (they share one etcd). */
export async function freshNamespace(h: Harness, prefix = "t"): Promise<string> {
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
  await h.core.createNamespace({ body: { metadata: { name } } });
  return name;
}

/** The error body client-node got, parsed (the apiserver's Status object). */
export async function statusOf(
  promise: Promise<unknown>,
): Promise<{ code: number; reason: string; message: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof k8s.ApiException) {
      const body = typeof error.body === "string" ? JSON.parse(error.body) : error.body;
      return { ...body, code: error.code };
    }
    throw error;
  }
  throw new Error("expected the request to fail");
}

export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
