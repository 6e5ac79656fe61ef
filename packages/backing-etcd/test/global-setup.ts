// Starts the real etcd servers the tests use (Debian's etcd-server on free loopback ports with
// temporary data dirs), one per test file that changes data so files can run in parallel, and
// stops them all afterwards.
import { type EtcdServer, startEtcd } from "@vsnap/test-servers/etcd";
import type { TestProject } from "vitest/node";

export interface EtcdInfo {
  readonly endpoint: string;
  readonly etcdctlArgs: readonly string[];
  readonly tls?: {
    readonly caFile: string;
    readonly certFile: string;
    readonly keyFile: string;
    readonly dir: string;
  };
}

/** Which test file owns which server. */
const SERVERS = {
  kv: {},
  tls: { tls: true },
  restore: {},
  db: { tls: true },
  bbolt: {},
  sqlite: {},
  archive: {},
  // user/password authentication enabled by the test
  auth: {},
  // etcd limits lowered: restore must adapt its batches
  limits: { extraArgs: ["--max-txn-ops=10"] },
} as const;
export type EtcdName = keyof typeof SERVERS;

declare module "vitest" {
  export interface ProvidedContext {
    etcd: Record<EtcdName, EtcdInfo>;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: EtcdServer[] = [];
  const close = async () => {
    await Promise.allSettled(started.map((s) => s.close()));
  };
  try {
    const entries = await Promise.all(
      Object.entries(SERVERS).map(async ([name, options]) => {
        const server = await startEtcd(options);
        started.push(server);
        const info: EtcdInfo = {
          endpoint: server.endpoint,
          etcdctlArgs: server.etcdctlArgs,
          ...(server.tls
            ? {
                tls: {
                  caFile: server.tls.caFile,
                  certFile: server.tls.clientCertFile,
                  keyFile: server.tls.clientKeyFile,
                  dir: server.tls.dir,
                },
              }
            : {}),
        };
        return [name, info] as const;
      }),
    );
    project.provide("etcd", Object.fromEntries(entries) as Record<EtcdName, EtcdInfo>);
  } catch (error) {
    await close();
    throw error;
  }
  return close;
}
