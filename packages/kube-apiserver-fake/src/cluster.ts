import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type EtcdServer, startEtcd } from "@vsnap/test-servers/etcd";
import { workloadController } from "./controllers/workloads.js";
import { type FakeApiServer, type FakeApiServerOptions, startFakeApiServer } from "./server.js";

export interface TestCluster {
  readonly etcd: EtcdServer;
  readonly api: FakeApiServer;
  /** A kubeconfig file for the cluster (context `vsnap-fake`, namespace default). */
  readonly kubeconfigPath: string;
  close(): Promise<void>;
}

export interface TestClusterOptions extends Omit<FakeApiServerOptions, "etcd"> {
  /** Use this etcd instead of starting one (it is not stopped by `close`). */
  readonly etcd?: EtcdServer;
  /** Run the simulated workload controller (pods for StatefulSets/Deployments); default true. */
  readonly workloads?: boolean;
}

/** A real etcd plus the test API server on it, and a kubeconfig file: a whole test cluster. */
export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const ownEtcd = !options.etcd;
  const etcd = options.etcd ?? (await startEtcd());
  const controllers = [
    ...(options.workloads === false ? [] : [workloadController()]),
    ...(options.controllers ?? []),
  ];
  let api: FakeApiServer;
  try {
    api = await startFakeApiServer({
      ...options,
      controllers,
      etcd: {
        endpoints: [etcd.endpoint],
        ...(etcd.tls ? { tls: { ca: etcd.tls.ca, cert: etcd.tls.clientCert, key: etcd.tls.clientKey } } : {}),
      },
    });
  } catch (error) {
    if (ownEtcd) await etcd.close();
    throw error;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-kube-"));
  const kubeconfigPath = path.join(dir, "kubeconfig");
  writeFileSync(kubeconfigPath, api.kubeconfig(), { mode: 0o600 });
  return {
    etcd,
    api,
    kubeconfigPath,
    async close() {
      await api.close();
      if (ownEtcd) await etcd.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
