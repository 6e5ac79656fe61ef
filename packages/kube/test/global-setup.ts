import { startTestCluster, type TestCluster } from "@vsnap/kube-apiserver-fake";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}

let cluster: TestCluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  cluster = await startTestCluster();
  project.provide("kubeconfig", cluster.api.kubeconfig());
}

export async function teardown(): Promise<void> {
  await cluster?.close();
}
