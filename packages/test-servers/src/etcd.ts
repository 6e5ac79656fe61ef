import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { freePort, waitFor } from "./ports.js";
import { createTestPki, type TestPki } from "./tls.js";

export interface EtcdServer {
  /** Client URL, e.g. http://127.0.0.1:41234 or https://... with `tls`. */
  readonly endpoint: string;
  readonly dataDir: string;
  readonly tls?: TestPki;
  /** Arguments for etcdctl that reach this server (endpoint + certificates). */
  readonly etcdctlArgs: readonly string[];
  readonly pid: number;
  close(): Promise<void>;
}

export interface StartEtcdOptions {
  /** Mutual TLS with a CA and client certificate generated for this server. */
  readonly tls?: boolean;
  /** Extra etcd flags, e.g. ["--auto-compaction-retention=1"]. */
  readonly extraArgs?: readonly string[];
  /** Start on an existing data dir (e.g. made by `etcdctl snapshot restore --name n1`); it is kept on close. */
  readonly dataDir?: string;
  /** The peer port, when the data dir's member was restored with one (`http://127.0.0.1:<peerPort>`). */
  readonly peerPort?: number;
  /**
   * The folder for its data and certificates, removed on close (default: a new `vsnap-etcd-*` temp
   * dir, whose name .ci/run's cleanup looks for).
   */
  readonly root?: string;
}

/** A real etcd (Debian's etcd-server) on free loopback ports with a temporary data dir. */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const root = options.root ?? mkdtempSync(path.join(os.tmpdir(), "vsnap-etcd-"));
  const dataDir = options.dataDir ?? path.join(root, "data");
  const pki = options.tls ? createTestPki(path.join(root, "pki"), "etcd") : undefined;
  const [clientPort, peerPort] = [await freePort(), options.peerPort ?? (await freePort())];
  const scheme = pki ? "https" : "http";
  const endpoint = `${scheme}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--name",
    "n1",
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    endpoint,
    "--advertise-client-urls",
    endpoint,
    "--listen-peer-urls",
    peer,
    "--initial-advertise-peer-urls",
    peer,
    "--initial-cluster",
    `n1=${peer}`,
    "--log-level",
    "error",
    "--quota-backend-bytes",
    String(8 * 1024 ** 3),
    ...(pki
      ? [
          "--cert-file",
          pki.serverCertFile,
          "--key-file",
          pki.serverKeyFile,
          "--trusted-ca-file",
          pki.caFile,
          "--client-cert-auth",
        ]
      : []),
    ...(options.extraArgs ?? []),
  ];
  const child: ChildProcess = spawn("etcd", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await waitFor("etcd", () => health(endpoint, pki), 30_000);
  } catch (error) {
    child.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
    throw new Error(`etcd did not start: ${(error as Error).message}\n${stderr}`);
  }
  const etcdctlArgs = [
    `--endpoints=${endpoint}`,
    ...(pki ? [`--cacert=${pki.caFile}`, `--cert=${pki.clientCertFile}`, `--key=${pki.clientKeyFile}`] : []),
  ];
  return {
    endpoint,
    dataDir,
    ...(pki ? { tls: pki } : {}),
    etcdctlArgs,
    pid: child.pid ?? -1,
    async close() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function health(endpoint: string, pki: TestPki | undefined): Promise<boolean> {
  if (!pki) {
    const res = await fetch(`${endpoint}/health`);
    return res.ok;
  }
  return new Promise((resolve) => {
    const req = https.get(
      `${endpoint}/health`,
      { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
  });
}
