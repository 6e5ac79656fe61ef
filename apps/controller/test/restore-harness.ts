import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { createKineDatabase, sqliteSource } from "@vsnap/backing-sqlite";
import { type KeyValue, PluginRegistry } from "@vsnap/core";
import { fromConfig, type Kube } from "@vsnap/kube";
import {
  csiController,
  encodeHelmRelease,
  FAKE_CSI_DRIVER,
  jobController,
  startFakeApiServer,
  startTestCluster,
  storageResourceRegistry,
  type TestCluster,
  VOLUME_DATA_ANNOTATION,
  workloadController,
} from "@vsnap/kube-apiserver-fake";
import { containerStorePlugin } from "@vsnap/store-container";

const here = path.dirname(fileURLToPath(import.meta.url));
export const CONTROLLER_BIN = path.resolve(here, "../dist/main.js");
export const CLI_BIN = path.resolve(here, "../../../packages/cli/dist/bin.js");
export const registry = PluginRegistry.of(containerStorePlugin);
export const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

/**
 * A host cluster with what restores and volume snapshots need: the test API server over a real
 * etcd with snapshot.storage.k8s.io, Jobs and StorageClasses; the StatefulSet/Deployment
 * controller; a CSI snapshotter/provisioner for FAKE_CSI_DRIVER; and a Job runner that runs the
 * real `vsnap` CLI for `vsnap` containers, with PVCs mapped to their hostPath directories.
 */
export interface RestoreCluster {
  readonly cluster: TestCluster;
  readonly kube: Kube;
  readonly custom: k8s.CustomObjectsApi;
  readonly batch: k8s.BatchV1Api;
  readonly dir: string;
  close(): Promise<void>;
}

export async function restoreCluster(): Promise<RestoreCluster> {
  const cluster = await startTestCluster({
    resources: storageResourceRegistry(),
    workloads: false,
    controllers: [
      workloadController(),
      csiController({ readyDelayMs: 100 }),
      jobController({ binaries: { vsnap: [process.execPath, CLI_BIN] } }),
    ],
  });
  const config = new k8s.KubeConfig();
  config.loadFromString(cluster.api.kubeconfig());
  const kube = fromConfig(config);
  const custom = config.makeApiClient(k8s.CustomObjectsApi);
  const storage = config.makeApiClient(k8s.StorageV1Api);
  await storage.createStorageClass({ body: { metadata: { name: "fast" }, provisioner: FAKE_CSI_DRIVER } });
  await custom.createClusterCustomObject({
    group: "snapshot.storage.k8s.io",
    version: "v1",
    plural: "volumesnapshotclasses",
    body: {
      apiVersion: "snapshot.storage.k8s.io/v1",
      kind: "VolumeSnapshotClass",
      metadata: {
        name: "fast-snapshots",
        annotations: { "snapshot.storage.kubernetes.io/is-default-class": "true" },
      },
      driver: FAKE_CSI_DRIVER,
      deletionPolicy: "Delete",
    },
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-restore-e2e-"));
  return {
    cluster,
    kube,
    custom,
    batch: config.makeApiClient(k8s.BatchV1Api),
    dir,
    async close() {
      await cluster.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let n = 0;
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${n++}`;

export interface FakeVc {
  readonly name: string;
  readonly namespace: string;
  /** The host directory behind the data PVC (`data-NAME-0`), when it has one. */
  readonly dataDir?: string;
  readonly sqlite?: string;
}

/**
 * What `vcluster create` leaves behind, with persistence: a StatefulSet whose syncer mounts the
 * `data` claim template at /data, the PVC `data-NAME-0` (bound to a hostPath PV on this machine),
 * the vc-config Secret and a Helm release.
 */
export async function fakeVc(
  rc: RestoreCluster,
  options: {
    name?: string;
    namespace?: string;
    config?: string;
    persistent?: boolean;
    chartVersion?: string;
    values?: Record<string, unknown>;
  } = {},
): Promise<FakeVc> {
  const { kube } = rc;
  const name = options.name ?? unique("vc");
  const namespace = options.namespace ?? unique("host");
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => {});
  const persistent = options.persistent ?? true;
  let dataDir: string | undefined;
  if (persistent) {
    dataDir = path.join(rc.dir, `${namespace}-${name}`);
    mkdirSync(dataDir, { recursive: true });
    const pv = `pv-${namespace}-${name}`;
    await kube.core.createPersistentVolume({
      body: {
        metadata: { name: pv },
        spec: {
          capacity: { storage: "5Gi" },
          accessModes: ["ReadWriteOnce"],
          hostPath: { path: dataDir },
          persistentVolumeReclaimPolicy: "Retain",
        },
      },
    });
    await kube.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: `data-${name}-0` },
        spec: { volumeName: pv, accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "5Gi" } } },
      },
    });
  }
  const labels = { app: "vcluster", release: name };
  await kube.apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name, labels },
      spec: {
        replicas: 1,
        serviceName: `${name}-headless`,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: "syncer",
                image: "ghcr.io/loft-sh/vcluster-pro:0.30.0",
                volumeMounts: [
                  { name: "config", mountPath: "/var/lib/vcluster" },
                  ...(persistent ? [{ name: "data", mountPath: "/data" }] : []),
                ],
              },
            ],
            volumes: [{ name: "config", secret: { secretName: `vc-config-${name}` } }],
          },
        },
        ...(persistent
          ? {
              volumeClaimTemplates: [
                {
                  metadata: { name: "data" },
                  spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "5Gi" } } },
                },
              ],
            }
          : {}),
      },
    },
  });
  const config =
    options.config ??
    "controlPlane:\n  backingStore:\n    database:\n      embedded:\n        enabled: true\n";
  await kube.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: `vc-config-${name}`, labels },
      data: { "config.yaml": Buffer.from(config).toString("base64") },
    },
  });
  const release = {
    name,
    namespace,
    version: 1,
    info: { status: "deployed" },
    chart: { metadata: { name: "vcluster", version: options.chartVersion ?? "0.30.0" } },
    config: options.values ?? {
      controlPlane: { statefulSet: { persistence: { volumeClaim: { enabled: persistent } } } },
    },
  };
  await kube.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: {
        name: `sh.helm.release.v1.${name}.v1`,
        labels: { owner: "helm", name, status: "deployed", version: "1" },
      },
      type: "helm.sh/release.v1",
      data: { release: Buffer.from(encodeHelmRelease(release)).toString("base64") },
    },
  });
  await until("vCluster pod running", async () => {
    const pods = await kube.core.listNamespacedPod({
      namespace,
      labelSelector: `app=vcluster,release=${name}`,
    });
    return pods.items.some((p) => p.status?.phase === "Running") || undefined;
  });
  return { name, namespace, ...(dataDir ? { dataDir, sqlite: path.join(dataDir, "state.db") } : {}) };
}

/** A host PVC of the vCluster (as the syncer creates it), provisioned by the fake CSI driver, holding `data`. */
export async function syncedPvc(
  rc: RestoreCluster,
  vc: FakeVc,
  virtualName: string,
  data: string,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Promise<string> {
  const name = `${virtualName}-x-default-x-${vc.name}`;
  await rc.kube.core.createNamespacedPersistentVolumeClaim({
    namespace: vc.namespace,
    body: {
      metadata: {
        name,
        labels: { "vcluster.loft.sh/managed-by": vc.name, ...(extra.labels ?? {}) },
        annotations: {
          "vcluster.loft.sh/object-name": virtualName,
          "vcluster.loft.sh/object-namespace": "default",
          ...(extra.annotations ?? {}),
        },
      },
      spec: {
        storageClassName: "fast",
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1Gi" } },
      },
    },
  });
  const pvc = await until(`${name} bound`, async () => {
    const c = await rc.kube.core.readNamespacedPersistentVolumeClaim({ name, namespace: vc.namespace });
    return c.status?.phase === "Bound" ? c : undefined;
  });
  await rc.kube.core.patchPersistentVolume(
    {
      name: pvc.spec?.volumeName ?? "",
      body: { metadata: { annotations: { [VOLUME_DATA_ANNOTATION]: data } } },
    },
    merge,
  );
  return name;
}

/** The data a PVC's volume holds (the fake driver's stand-in for file contents). */
export async function volumeData(
  rc: RestoreCluster,
  namespace: string,
  pvc: string,
): Promise<string | undefined> {
  const claim = await rc.kube.core.readNamespacedPersistentVolumeClaim({ name: pvc, namespace });
  const pv = await rc.kube.core.readPersistentVolume({ name: claim.spec?.volumeName ?? "" });
  return pv.metadata?.annotations?.[VOLUME_DATA_ANNOTATION];
}

export async function backendSnapshots(rc: RestoreCluster): Promise<{ name: string; data: string }[]> {
  const list = (await rc.custom.listClusterCustomObject({
    group: "csi.fake.vsnap.dev",
    version: "v1",
    plural: "backendsnapshots",
  })) as {
    items: { metadata: { name: string }; spec: { data: string } }[];
  };
  return list.items.map((i) => ({ name: i.metadata.name, data: i.spec.data }));
}

export async function snapshotObjects(rc: RestoreCluster): Promise<string[]> {
  const vs = (await rc.custom.listClusterCustomObject({
    group: "snapshot.storage.k8s.io",
    version: "v1",
    plural: "volumesnapshots",
  })) as { items: { metadata: { namespace: string; name: string } }[] };
  const vsc = (await rc.custom.listClusterCustomObject({
    group: "snapshot.storage.k8s.io",
    version: "v1",
    plural: "volumesnapshotcontents",
  })) as { items: { metadata: { name: string } }[] };
  return [
    ...vs.items.map((i) => `vs/${i.metadata.namespace}/${i.metadata.name}`),
    ...vsc.items.map((i) => `vsc/${i.metadata.name}`),
  ];
}

/** Kine keys for a SQLite vCluster: `count` ConfigMaps in `ns`, values tagged with `tag`. */
export function kineEntries(ns: string, names: readonly string[], tag: string): KeyValue[] {
  const entries: KeyValue[] = [
    {
      key: "/registry/namespaces/default",
      value: Buffer.from(JSON.stringify({ kind: "Namespace", metadata: { name: "default" } })),
    },
    {
      key: `/registry/namespaces/${ns}`,
      value: Buffer.from(JSON.stringify({ kind: "Namespace", metadata: { name: ns } })),
    },
    {
      key: `/registry/configmaps/${ns}/kube-root-ca.crt`,
      value: Buffer.from(`{"data":{"ca.crt":"${tag}"}}`),
    },
    { key: "/vcluster/mappings/configmaps/x", value: Buffer.from(`mapping-${tag}`) },
    ...names.map((name) => ({
      key: `/registry/configmaps/${ns}/${name}`,
      value: Buffer.from(
        JSON.stringify({ kind: "ConfigMap", metadata: { name, namespace: ns }, data: { tag } }),
      ),
    })),
  ];
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
}

export async function writeKine(file: string, entries: readonly KeyValue[]): Promise<void> {
  await createKineDatabase(file, entries, { overwrite: true, history: 0 });
}

/** Every live key and value of a kine database, as text. */
export async function readKine(file: string): Promise<Map<string, string>> {
  const point = await sqliteSource(file).open();
  try {
    if (point.mode !== "kv") throw new Error("expected kv");
    const out = new Map<string, string>();
    for await (const kv of point.entries()) out.set(kv.key, Buffer.from(kv.value).toString("utf8"));
    return out;
  } finally {
    await point.close();
  }
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

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function kubeconfigFile(rc: RestoreCluster): string {
  return rc.cluster.kubeconfigPath;
}

/** The real `vsnap` against this cluster. */
export function vsnap(
  rc: RestoreCluster,
  args: string[],
  env: Record<string, string> = {},
  cwd = rc.dir,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd,
      env: {
        ...process.env,
        KUBECONFIG: rc.cluster.kubeconfigPath,
        NO_COLOR: "1",
        VSNAP_RESTORE_POLL_MS: "100",
        ...env,
      },
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

export interface ControllerProcess {
  logs(): string;
  kill(): Promise<void>;
}

/** The real controller for one vCluster, reading the given backing store. */
export async function controller(
  rc: RestoreCluster,
  vc: FakeVc,
  store: string[],
): Promise<ControllerProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      CONTROLLER_BIN,
      "--kubeconfig",
      rc.cluster.kubeconfigPath,
      "--namespace",
      vc.namespace,
      "--vcluster",
      vc.name,
      "--lease-duration",
      "5s",
      ...store,
    ],
    {
      env: {
        ...process.env,
        VSNAP_VOLUME_POLL_INTERVAL: "100ms",
        VSNAP_VOLUME_ERROR_GRACE: "300ms",
        VSNAP_VOLUME_TIMEOUT: "20s",
      },
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
  await until(
    "controller started",
    () => (/serving snapshot requests/.test(logs) ? true : undefined),
    15_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${logs}`);
  });
  return {
    logs: () => logs,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}

export function writeText(file: string, text: string): void {
  writeFileSync(file, text);
}

/** A test API server on an existing etcd: the vCluster's own apiserver filling its etcd. */
export async function virtualClusterOn(etcd: {
  endpoint: string;
}): Promise<{ core: k8s.CoreV1Api; close(): Promise<void> }> {
  const api = await startFakeApiServer({ etcd: { endpoints: [etcd.endpoint] } });
  const kc = new k8s.KubeConfig();
  kc.loadFromString(api.kubeconfig());
  return { core: kc.makeApiClient(k8s.CoreV1Api), close: () => api.close() };
}

/** `count` ConfigMaps of `size` random bytes in namespace `ns`. */
export async function fill(
  v: { core: k8s.CoreV1Api },
  ns: string,
  count: number,
  size: number,
): Promise<void> {
  await v.core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => {});
  for (let i = 0; i < count; i++)
    await v.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: `blob-${i}` }, binaryData: { data: randomBytes(size).toString("base64") } },
    });
}
