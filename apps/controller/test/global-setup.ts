import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startTestCluster, type TestCluster } from "@vsnap/kube-apiserver-fake";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The host cluster (test API server over a real etcd) the vCluster "runs" in. */
    hostKubeconfig: string;
    hostKubeconfigPath: string;
  }
}

let cluster: TestCluster | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  cluster = await startTestCluster();
  dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-controller-test-"));
  const file = path.join(dir, "host.kubeconfig");
  writeFileSync(file, cluster.api.kubeconfig());
  project.provide("hostKubeconfig", cluster.api.kubeconfig());
  project.provide("hostKubeconfigPath", file);
}

export async function teardown(): Promise<void> {
  await cluster?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
