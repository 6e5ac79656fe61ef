import { type EtcdServer, startEtcd } from "@vsnap/test-servers/etcd";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    etcdEndpoint: string;
    etcdctlArgs: string[];
  }
}

let etcd: EtcdServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  etcd = await startEtcd();
  project.provide("etcdEndpoint", etcd.endpoint);
  project.provide("etcdctlArgs", [...etcd.etcdctlArgs]);
}

export async function teardown(): Promise<void> {
  await etcd?.close();
}
