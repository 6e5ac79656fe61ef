import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { fromConfig, getRequest, type Kube, type RequestPhase, type StoredRequest } from "@vsnap/kube";
import {
  createFakeVCluster,
  type FakeApiServer,
  type FakeVClusterSpec,
  startFakeApiServer,
} from "@vsnap/kube-apiserver-fake";
import { type EtcdServer, startEtcd } from "@vsnap/test-servers/etcd";
import { inject } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));
export const CONTROLLER_BIN = path.resolve(here, "../dist/main.js");
export const CLI_BIN = path.resolve(here, "../../../packages/cli/dist/bin.js");

export function hostKube(): Kube {
  const config = new k8s.KubeConfig();
  config.loadFromString(inject("hostKubeconfig"));
  return fromConfig(config);
}

let n = 0;
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${n++}`;

export function tempDir(): { dir: string; close(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-e2e-"));
  return { dir, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A fake vCluster in the host cluster with Running pods. */
export async function fakeVCluster(
  kube: Kube,
  spec: Partial<FakeVClusterSpec> = {},
): Promise<{ name: string; namespace: string }> {
  const name = spec.name ?? unique("vc");
  const namespace = spec.namespace ?? unique("host");
  await createFakeVCluster(kube.config, { ...spec, name, namespace });
  await until("vCluster pod running", async () => {
    const pods = await kube.core.listNamespacedPod({
      namespace,
      labelSelector: `app=vcluster,release=${name}`,
    });
    return pods.items.some((p) => p.status?.phase === "Running") || undefined;
  });
  return { name, namespace };
}

/**
 * The vCluster's own data: a real etcd, filled through a test API server the way a real
 * vCluster's apiserver fills it (JSON objects under /registry/...).
 */
export interface VirtualCluster {
  readonly etcd: EtcdServer;
  readonly api: FakeApiServer;
  readonly core: k8s.CoreV1Api;
  close(): Promise<void>;
}

export async function virtualCluster(): Promise<VirtualCluster> {
  const etcd = await startEtcd();
  const api = await startFakeApiServer({ etcd: { endpoints: [etcd.endpoint] } });
  const kc = new k8s.KubeConfig();
  kc.loadFromString(api.kubeconfig());
  return {
    etcd,
    api,
    core: kc.makeApiClient(k8s.CoreV1Api),
    async close() {
      await api.close();
      await etcd.close();
    },
  };
}

/** `count` ConfigMaps of `size` random (incompressible) bytes each in namespace `ns`. */
export async function fill(v: VirtualCluster, ns: string, count: number, size: number): Promise<void> {
  await v.core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => {});
  for (let i = 0; i < count; i++) {
    const { randomBytes } = await import("node:crypto");
    await v.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: `blob-${i}` }, binaryData: { data: randomBytes(size).toString("base64") } },
    });
  }
}

export interface ControllerProcess {
  readonly child: ChildProcess;
  logs(): string;
  waitForLog(pattern: RegExp, ms?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startController(
  args: string[],
  env: Record<string, string> = {},
): Promise<ControllerProcess> {
  const child = spawn(
    process.execPath,
    [CONTROLLER_BIN, "--kubeconfig", inject("hostKubeconfigPath"), ...args],
    {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let logs = "";
  child.stdout?.on("data", (d: Buffer) => {
    logs += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    logs += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const proc: ControllerProcess = {
    child,
    logs: () => logs,
    async waitForLog(pattern, ms = 15_000) {
      await until(`controller log ${pattern}`, () => (pattern.test(logs) ? true : undefined), ms).catch(
        (e: Error) => {
          throw new Error(`${e.message}\n--- controller logs ---\n${logs}`);
        },
      );
    },
    async kill(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
  await proc.waitForLog(/serving snapshot requests/);
  return proc;
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function waitForPhase(
  kube: Kube,
  namespace: string,
  name: string,
  phases: RequestPhase[],
  ms = 30_000,
  extra: (r: StoredRequest) => boolean = () => true,
): Promise<StoredRequest> {
  let last: StoredRequest | undefined;
  return until(
    `request ${name} in ${phases.join("|")}`,
    async () => {
      last = await getRequest(kube, namespace, name);
      return last && phases.includes(last.request.status.phase) && extra(last) ? last : undefined;
    },
    ms,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last status: ${JSON.stringify(last?.request.status)}`);
  });
}

/** The events about a request, oldest first: [type, reason, message]. */
export async function eventsOf(
  kube: Kube,
  namespace: string,
  name: string,
): Promise<{ type: string; reason: string; message: string }[]> {
  const list = await kube.core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items
    .map((e) => ({
      at: new Date(e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime(),
      type: e.type ?? "",
      reason: e.reason ?? "",
      message: e.message ?? "",
    }))
    .sort((a, b) => a.at - b.at)
    .map(({ type, reason, message }) => ({ type, reason, message }));
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The real `vsnap` binary, pointed at the host cluster through KUBECONFIG. */
export function vsnap(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      env: { ...process.env, KUBECONFIG: inject("hostKubeconfigPath"), NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
