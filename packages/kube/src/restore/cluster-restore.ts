import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import {
  type ArchiveSummary,
  type ParsedLocation,
  type PluginRegistry,
  type SnapshotProgress,
  VsnapError,
  verifySnapshot,
} from "@vsnap/core";
import type { Kube } from "../client.js";
import {
  type BackingStore,
  describeBackingStore,
  detectBackingStore,
  readVClusterConfig,
} from "../config.js";
import { findVCluster, type VCluster } from "../find.js";
import { getHelmRelease, type VClusterRelease } from "../helm.js";
import { sleep } from "../volumes/api.js";
import { restoreVolumes, type VolumeRestoreResult } from "../volumes/restore.js";
import type { VolumeSnapshotRecord } from "../volumes/types.js";
import type { KeyDiff } from "./diff.js";
import {
  deleteRestoreJob,
  type JobOutcome,
  removeStaleJob,
  restoreJob,
  runRestoreJob,
  STORE_OPTIONS_ENV,
  type WorkloadTemplate,
  workloadTemplate,
} from "./job.js";
import type { RestoreDataResult } from "./protocol.js";
import {
  pauseForRestore,
  type RestorePhase,
  type RestoreState,
  readRestoreState,
  recordPhase,
  resumeAfterRestore,
  waitPodsGone,
  waitReady,
} from "./state.js";
import { compareConfigs, type HelmInstallPlan, helmInstallPlan, runHelm } from "./values.js";

export const DEFAULT_RESTORE_IMAGE = "ghcr.io/vsnap-dev/vsnap:0.1.0";

export interface RestoreTimeouts {
  /** Pods to stop after scaling to zero (default 3 min). */
  readonly podsGoneMs?: number;
  /** The restore Job (default 30 min). */
  readonly jobMs?: number;
  /** The vCluster to be Ready again (default 5 min). */
  readonly readyMs?: number;
  /** Each volume (default 10 min). */
  readonly volumeMs?: number;
  readonly pollMs?: number;
  /** How long an error on a VolumeSnapshot may last before it counts (default 30 s). */
  readonly volumeErrorGraceMs?: number;
}

/** What the restore says as it goes: a step starting, its outcome, notes, and transient progress. */
export type RestoreEvent =
  | { readonly kind: "step"; readonly text: string }
  | { readonly kind: "done"; readonly text: string }
  | { readonly kind: "info"; readonly text: string }
  | { readonly kind: "warn"; readonly text: string }
  | { readonly kind: "progress"; readonly progress: SnapshotProgress };

export interface ClusterRestoreInput {
  readonly name: string;
  readonly namespace?: string;
  /** The snapshot URL, with flag-given store options folded in. */
  readonly url: string;
  readonly registry: PluginRegistry;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly dryRun?: boolean;
  readonly includeVolumes?: boolean;
  /** Restoring into a vCluster other than the one snapshotted (other name or namespace). */
  readonly newVCluster?: boolean;
  /** With newVCluster, when the target does not exist: install it with helm first. */
  readonly install?: boolean;
  readonly helm?: { readonly binary?: string; readonly repo?: string; readonly valuesDir?: string };
  /** The image of the restore Job (it runs `vsnap restore-data`). */
  readonly image?: string;
  /** Reach a deployed/external etcd here instead of the address in its vcluster.yaml. */
  readonly etcd?: {
    readonly endpoints: readonly string[];
    readonly caFile?: string;
    readonly certFile?: string;
    readonly keyFile?: string;
  };
  readonly timeouts?: RestoreTimeouts;
  readonly signal?: AbortSignal;
  readonly report?: (event: RestoreEvent) => void;
  /** Names the Jobs and backups (default: random). */
  readonly id?: string;
}

export interface DryRunPlan {
  readonly diff: KeyDiff;
  readonly release: {
    readonly snapshot?: {
      readonly name: string;
      readonly namespace: string;
      readonly chart: string;
      readonly chartVersion: string;
    };
    readonly live?: {
      readonly name: string;
      readonly namespace: string;
      readonly chart: string;
      readonly chartVersion: string;
      readonly revision: number;
    };
    readonly chartVersionDiffers: boolean;
    readonly valuesDiffer: boolean;
  };
  readonly config: {
    readonly inSnapshot: boolean;
    readonly identical: boolean;
    readonly changedKeys: readonly string[];
  };
  readonly volumes: {
    readonly recorded: number;
    readonly restorable: readonly string[];
    /** PVCs that exist and would be left alone. */
    readonly existing: readonly string[];
    readonly notInSnapshot: readonly string[];
  };
}

export interface RestoreFailure {
  readonly stage: "restore" | "rollback" | "volumes" | "resume";
  readonly message: string;
  /** The data as it was before the restore is in place. */
  readonly oldDataInPlace: boolean;
  /** The vCluster was scaled back up. */
  readonly resumed: boolean;
  /** What the person should do now. */
  readonly next?: string;
}

export interface ClusterRestoreOutcome {
  readonly ok: boolean;
  readonly id: string;
  readonly url: string;
  readonly vcluster: { readonly name: string; readonly namespace: string };
  readonly target: string;
  readonly archive: Pick<
    ArchiveSummary,
    "mode" | "keys" | "bytes" | "sha256" | "verified" | "revision" | "compressedBytes"
  > & {
    readonly backingStore?: string;
    readonly volumes: number;
  };
  readonly dryRun?: DryRunPlan;
  readonly restored?: { readonly keys: number; readonly bytes: number; readonly revision: number };
  readonly volumes?: readonly VolumeRestoreResult[];
  readonly ready?: boolean;
  readonly failure?: RestoreFailure;
  /** The Job's own account of what it did. */
  readonly jobSteps?: readonly string[];
  /** When the target vCluster did not exist and was not installed: how to create it. */
  readonly install?: HelmInstallPlan & { readonly valuesFile: string };
  readonly seconds: number;
}

const noop = () => {};

/**
 * `vsnap restore NAME URL` in cluster mode. Nothing in the cluster changes until the whole archive
 * has been verified and found to fit the target. Then: record the replicas and scale the vCluster
 * to zero (annotated, so an interrupted restore can be resumed or undone), wait for its pods to
 * go, restore the backing store with a Job that mounts the vCluster's data (keeping the old data
 * until the restore succeeded), restore the volumes, and scale back up. If the restore fails the
 * old data is put back and the vCluster resumed; if even that fails, the vCluster stays stopped
 * and the outcome says exactly what to do.
 */
export async function restoreVCluster(
  kube: Kube,
  input: ClusterRestoreInput,
): Promise<ClusterRestoreOutcome> {
  const started = Date.now();
  const report = input.report ?? noop;
  const id = input.id ?? randomId();
  const location = await input.registry.parse(input.url);
  const signal = input.signal;

  let vc: VCluster | undefined;
  try {
    vc = await findVCluster(kube, input.name, input.namespace ? { namespace: input.namespace } : {});
  } catch (error) {
    if (!(VsnapError.is(error, "NOT_FOUND") && input.newVCluster && input.namespace)) throw error;
  }

  report({ kind: "step", text: `Verifying ${location.display}` });
  const summary = await verifyStored(input, location, report);
  const archiveBackingStore = summary.manifest?.backingStore;
  report({
    kind: "done",
    text: `${summary.verified ? "verified" : "readable"}: ${summary.mode === "db" ? "etcd db snapshot" : `${summary.keys} keys`}, ${summary.bytes} bytes${archiveBackingStore ? ` from ${archiveBackingStore}` : ""}${summary.revision !== undefined ? ` at revision ${summary.revision}` : ""}, sha256 ${summary.sha256.slice(0, 12)}…${summary.volumes?.length ? `, ${summary.volumes.length} volume records` : ""}`,
  });
  if (!summary.verified)
    report({
      kind: "warn",
      text: "the archive has no vsnap manifest (a vCluster archive?): checked by gzip CRC and tar structure only",
    });

  const base = {
    id,
    url: location.display,
    archive: {
      mode: summary.mode,
      keys: summary.keys,
      bytes: summary.bytes,
      sha256: summary.sha256,
      verified: summary.verified,
      compressedBytes: summary.compressedBytes,
      ...(summary.revision === undefined ? {} : { revision: summary.revision }),
      ...(archiveBackingStore ? { backingStore: archiveBackingStore } : {}),
      volumes: summary.volumes?.length ?? 0,
    },
  };

  if (!vc) {
    const namespace = input.namespace ?? "";
    const valuesFile = path.resolve(input.helm?.valuesDir ?? ".", `${input.name}-vcluster-values.yaml`);
    const plan = helmInstallPlan(summary, { name: input.name, namespace }, valuesFile, input.helm?.repo);
    if (plan.valuesYaml) writeFileSync(valuesFile, plan.valuesYaml, { mode: 0o600 });
    if (!input.install || input.dryRun) {
      return {
        ...base,
        ok: false,
        vcluster: { name: input.name, namespace },
        target: "none",
        install: { ...plan, valuesFile },
        seconds: (Date.now() - started) / 1000,
      };
    }
    report({
      kind: "step",
      text: `Installing vCluster ${input.name} in namespace ${namespace} from the snapshot's values (chart ${plan.chart} ${plan.chartVersion || "latest"})`,
    });
    await runHelm(input.helm?.binary ?? "helm", plan.args, input.env, signal);
    vc = await waitForVCluster(kube, input.name, namespace, input.timeouts?.readyMs ?? 5 * 60_000, signal);
    report({ kind: "done", text: `installed (${vc.workload.kind} ${namespace}/${vc.workload.name})` });
  }

  const config = await readVClusterConfig(kube, vc);
  const store = overrideEtcd(detectBackingStore(config, vc), input.etcd);
  checkFits(summary, store, vc);
  checkIdentity(summary, vc, input.newVCluster === true);
  const pending = readRestoreState(vc);
  if (pending && pending.url !== location.publicUrl)
    throw new VsnapError(
      "FAILED_PRECONDITION",
      `vCluster "${vc.name}" has an unfinished restore of ${pending.display} (id ${pending.id}, phase ${pending.phase})`,
      {
        hint: `finish it with \`vsnap restore ${vc.name} "${pending.display}" -n ${vc.namespace}\`, or put the old data back with \`vsnap restore ${vc.name} --undo -n ${vc.namespace}\``,
      },
    );
  const copies = (summary.volumes ?? []).filter(
    (r) => (r as { phase?: string }).phase === "Completed",
  ).length;
  if (copies && !input.includeVolumes)
    report({
      kind: "info",
      text: `the snapshot holds ${copies} volume snapshot(s); add --include-volumes to restore them`,
    });
  if (input.includeVolumes && !summary.volumes?.length)
    report({ kind: "warn", text: "--include-volumes: the snapshot records no volume snapshots" });

  const template = await workloadTemplate(kube, vc);
  const target = dataTarget(store, template, vc);
  const options = await storeOptions(input.registry, location, input.env);
  const ctx: Ctx = { kube, input, report, id, location, summary, vc, template, target, options, signal };
  const vcRef = { name: vc.name, namespace: vc.namespace };
  if (input.dryRun) {
    const plan = await dryRun(ctx);
    return {
      ...base,
      ok: true,
      vcluster: vcRef,
      target: target.description,
      dryRun: plan,
      seconds: (Date.now() - started) / 1000,
    };
  }
  const result = await apply(ctx, pending);
  return {
    ...base,
    ...result,
    vcluster: vcRef,
    target: target.description,
    seconds: (Date.now() - started) / 1000,
  };
}

interface Ctx {
  readonly kube: Kube;
  readonly input: ClusterRestoreInput;
  readonly report: (e: RestoreEvent) => void;
  readonly id: string;
  readonly location: ParsedLocation;
  readonly summary: ArchiveSummary;
  readonly vc: VCluster;
  readonly template: WorkloadTemplate;
  readonly target: DataTarget;
  readonly options: string;
  readonly signal: AbortSignal | undefined;
}

interface DataTarget {
  readonly description: string;
  /** `vsnap restore-data` arguments naming the store (and where to keep the backup). */
  readonly args: readonly string[];
  readonly scratchMount?: string;
  /** Said before restoring when the backup cannot survive the Job's pod. */
  readonly warning?: string;
}

function randomId(): string {
  const chars = "bcdfghjklmnpqrstvwxz2456789";
  return Array.from(randomBytes(5), (b) => chars[b % chars.length]).join("");
}

async function verifyStored(
  input: ClusterRestoreInput,
  location: ParsedLocation,
  report: (e: RestoreEvent) => void,
): Promise<ArchiveSummary> {
  const { store } = await input.registry.open(location, { env: input.env });
  try {
    return await verifySnapshot({
      store,
      key: location.key,
      ...(input.signal ? { signal: input.signal } : {}),
      onProgress: (progress) => report({ kind: "progress", progress }),
    });
  } finally {
    await store.close();
  }
}

function overrideEtcd(store: BackingStore, etcd: ClusterRestoreInput["etcd"]): BackingStore {
  if (!etcd) return store;
  if (store.type !== "deployed-etcd" && store.type !== "external-etcd")
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `--etcd-endpoints applies to a deployed or external etcd, but the vCluster uses ${describeBackingStore(store)}`,
    );
  const tls =
    etcd.caFile || etcd.certFile || etcd.keyFile
      ? {
          ...(etcd.caFile ? { caFile: etcd.caFile } : {}),
          ...(etcd.certFile ? { certFile: etcd.certFile } : {}),
          ...(etcd.keyFile ? { keyFile: etcd.keyFile } : {}),
        }
      : undefined;
  return { type: "external-etcd", endpoints: [...etcd.endpoints], ...(tls ? { tls } : {}) };
}

/** Refuses combinations that cannot work, before anything is touched. */
function checkFits(summary: ArchiveSummary, store: BackingStore, vc: VCluster): void {
  if (store.type === "external-database")
    throw new VsnapError(
      "UNSUPPORTED",
      `vCluster "${vc.name}" keeps its data in an ${describeBackingStore(store)}: restore the database with its own tools`,
      {
        hint: "vsnap restores embedded SQLite and etcd backing stores",
      },
    );
  if (summary.mode === "db" && store.type !== "embedded-etcd")
    throw new VsnapError(
      "UNSUPPORTED",
      `the snapshot is an etcd db snapshot; vCluster "${vc.name}" uses ${describeBackingStore(store)}, which takes key/value snapshots`,
      {
        hint: "convert it first (vsnap snapshot convert) or restore it into an embedded-etcd vCluster",
      },
    );
}

/** A snapshot of another vCluster carries that vCluster's certificates' ConfigMaps and name mappings. */
function checkIdentity(summary: ArchiveSummary, vc: VCluster, newVCluster: boolean): void {
  const spec = summary.request?.spec as { vcluster?: { name?: string; namespace?: string } } | undefined;
  const from = spec?.vcluster?.name
    ? { name: spec.vcluster.name, namespace: spec.vcluster.namespace ?? "" }
    : summary.release
      ? { name: summary.release.releaseName, namespace: summary.release.releaseNamespace }
      : undefined;
  if (!from || newVCluster) return;
  if (from.name !== vc.name || from.namespace !== vc.namespace)
    throw new VsnapError(
      "FAILED_PRECONDITION",
      `the snapshot was taken of vCluster "${from.name}" in namespace "${from.namespace}", not of "${vc.name}" in "${vc.namespace}"`,
      {
        hint: "restoring into another vCluster needs --new-vcluster (drops the old name mappings and kube-root-ca.crt ConfigMaps)",
      },
    );
}

function dataTarget(store: BackingStore, template: WorkloadTemplate, vc: VCluster): DataTarget {
  switch (store.type) {
    case "embedded-sqlite": {
      if (!template.persistent)
        throw new VsnapError(
          "UNSUPPORTED",
          `vCluster "${vc.name}" keeps its SQLite database on a volume that does not outlive its pod (no PVC)`,
          {
            hint: "enable persistence (controlPlane.statefulSet.persistence) to make restores possible",
          },
        );
      return { description: describeBackingStore(store), args: ["--sqlite", store.file] };
    }
    case "embedded-etcd": {
      if (!template.persistent)
        throw new VsnapError(
          "UNSUPPORTED",
          `vCluster "${vc.name}" keeps its embedded etcd on a volume that does not outlive its pod (no PVC)`,
        );
      const dataDir = `${template.dataMountPath ?? "/data"}/etcd`;
      return {
        description: `embedded etcd (${dataDir})`,
        args: [
          "--etcd-data-dir",
          dataDir,
          "--etcd-name",
          `${vc.name}-0`,
          "--etcd-peer-url",
          `https://${vc.name}-0.${vc.name}-headless.${vc.namespace}:2380`,
        ],
      };
    }
    case "deployed-etcd":
    case "external-etcd": {
      const tls = store.tls ?? {};
      const args = [
        "--etcd-endpoints",
        store.endpoints.join(","),
        ...(tls.caFile ? ["--etcd-ca", tls.caFile] : []),
        ...(tls.certFile ? ["--etcd-cert", tls.certFile] : []),
        ...(tls.keyFile ? ["--etcd-key", tls.keyFile] : []),
      ];
      if (template.persistent)
        return {
          description: describeBackingStore(store),
          args: [...args, "--backup-dir", template.dataMountPath ?? "/data"],
        };
      return {
        description: describeBackingStore(store),
        args: [...args, "--backup-dir", "/vsnap-backup"],
        scratchMount: "/vsnap-backup",
        warning:
          "the vCluster has no data volume: the copy of the old etcd data lives in the restore pod only; if that pod is killed, the old data cannot be put back",
      };
    }
    case "external-database":
      throw new VsnapError("UNSUPPORTED", "external databases are restored with their own tools");
  }
}

async function storeOptions(
  registry: PluginRegistry,
  location: ParsedLocation,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const plugin = await registry.plugin(location.scheme);
  const options = plugin.toRequestOptions
    ? await plugin.toRequestOptions(location, { env })
    : (JSON.parse(JSON.stringify(location.options ?? {})) as Record<string, unknown>);
  return JSON.stringify({ plugin: location.plugin, scheme: location.scheme, key: location.key, options });
}

function jobArgs(ctx: Ctx, action: "restore" | "rollback" | "dry-run"): string[] {
  return [
    ...ctx.target.args,
    "--id",
    ctx.id,
    ...(action === "rollback" ? ["--rollback"] : action === "dry-run" ? ["--dry-run"] : []),
    ...(ctx.input.newVCluster ? ["--new-vcluster"] : []),
    ...(action === "rollback"
      ? []
      : ["--expect-sha256", ctx.summary.sha256, "--options-env", STORE_OPTIONS_ENV, ctx.location.publicUrl]),
  ];
}

async function runJob(ctx: Ctx, action: "restore" | "rollback" | "dry-run"): Promise<JobOutcome> {
  const suffix = action === "restore" ? "" : `-${action}`;
  const name = `vsnap-restore-${ctx.id}${suffix}`;
  const secret = action === "rollback" ? undefined : { name, data: ctx.options };
  const timeoutMs = ctx.input.timeouts?.jobMs ?? 30 * 60_000;
  const job = restoreJob({
    vcluster: ctx.vc,
    template: ctx.template,
    name,
    restoreId: ctx.id,
    image: ctx.input.image ?? DEFAULT_RESTORE_IMAGE,
    args: jobArgs(ctx, action),
    ...(secret ? { optionsSecret: secret.name } : {}),
    ...(ctx.target.scratchMount ? { scratchMount: ctx.target.scratchMount } : {}),
    activeDeadlineSeconds: Math.ceil(timeoutMs / 1000),
  });
  try {
    return await runRestoreJob(ctx.kube, job, {
      ...(secret ? { secret } : {}),
      timeoutMs: timeoutMs + 60_000,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onRunning: (pod) => ctx.report({ kind: "info", text: `pod ${ctx.vc.namespace}/${pod} is running` }),
    });
  } finally {
    await deleteRestoreJob(ctx.kube, ctx.vc.namespace, name, secret?.name);
  }
}

async function dryRun(ctx: Ctx): Promise<DryRunPlan> {
  const { kube, vc, summary, report } = ctx;
  report({
    kind: "step",
    text: `Comparing with the live data of vCluster ${vc.namespace}/${vc.name} (${ctx.target.description}); nothing is changed`,
  });
  const outcome = await runJob(ctx, "dry-run");
  if (!outcome.succeeded || !outcome.result?.diff)
    throw new VsnapError(
      "UNAVAILABLE",
      `the dry-run Job failed: ${outcome.result?.error ?? outcome.reason}`,
      {
        hint: "nothing was changed; the Job reads the live data with the vCluster's volumes mounted",
      },
    );
  const diff = outcome.result.diff;
  report({ kind: "done", text: `${diff.liveKeys} live keys, ${diff.archiveKeys} keys to restore` });
  let live: VClusterRelease | undefined;
  try {
    live = await getHelmRelease(kube, vc.name, vc.namespace);
  } catch (error) {
    if (!VsnapError.is(error, "NOT_FOUND")) throw error;
  }
  const snap = summary.release;
  const liveConfig = await readVClusterConfig(kube, vc);
  const config = compareConfigs(summary.vclusterConfig, liveConfig.yaml);
  const snapValues = snap?.values ? Buffer.from(snap.values, "base64").toString("utf8") : "";
  const records = summary.volumes as readonly VolumeSnapshotRecord[] | undefined;
  const restorable: string[] = [];
  const existing: string[] = [];
  const notInSnapshot: string[] = [];
  for (const r of records ?? []) {
    const t = volumeTarget(ctx, r);
    const key = `${t.namespace}/${t.name}`;
    if (r.phase !== "Completed") {
      notInSnapshot.push(`${key} (${r.phase}${r.reason ? `: ${r.reason}` : ""})`);
      continue;
    }
    const found = await kube.core
      .readNamespacedPersistentVolumeClaim({ name: t.name, namespace: t.namespace })
      .catch(() => undefined);
    (found ? existing : restorable).push(key);
  }
  return {
    diff,
    release: {
      ...(snap
        ? {
            snapshot: {
              name: snap.releaseName,
              namespace: snap.releaseNamespace,
              chart: snap.chartName,
              chartVersion: snap.chartVersion,
            },
          }
        : {}),
      ...(live
        ? {
            live: {
              name: live.release.releaseName,
              namespace: live.release.releaseNamespace,
              chart: live.release.chartName,
              chartVersion: live.release.chartVersion,
              revision: live.record.version,
            },
          }
        : {}),
      chartVersionDiffers: !!snap && !!live && snap.chartVersion !== live.release.chartVersion,
      valuesDiffer: !!snap && !!live && snapValues.trim() !== live.valuesYaml.trim(),
    },
    config: {
      inSnapshot: summary.vclusterConfig !== undefined,
      identical: config.identical,
      changedKeys: config.changedKeys,
    },
    volumes: { recorded: records?.length ?? 0, restorable, existing, notInSnapshot },
  };
}

/** Where a recorded PVC goes: the same place, or (new vCluster) the target namespace with vCluster's name translation. */
function volumeTarget(ctx: Ctx, record: VolumeSnapshotRecord): { namespace: string; name: string } {
  const name = record.persistentVolumeClaim.metadata?.name ?? "";
  const namespace = record.persistentVolumeClaim.metadata?.namespace ?? "";
  if (!ctx.input.newVCluster) return { namespace, name };
  const spec = ctx.summary.request?.spec as { vcluster?: { name?: string } } | undefined;
  const oldName = spec?.vcluster?.name ?? ctx.summary.release?.releaseName;
  const suffix = oldName ? `-x-${oldName}` : undefined;
  const renamed =
    suffix && name.endsWith(suffix) ? `${name.slice(0, -suffix.length)}-x-${ctx.vc.name}` : name;
  return { namespace: ctx.vc.namespace, name: renamed };
}

async function apply(
  ctx: Ctx,
  pending: RestoreState | undefined,
): Promise<Omit<ClusterRestoreOutcome, "vcluster" | "target" | "seconds" | "id" | "url" | "archive">> {
  const { kube, vc, report, input, location } = ctx;
  const timeouts = input.timeouts ?? {};
  let state: RestoreState = pending ?? {
    id: ctx.id,
    url: location.publicUrl,
    display: location.display,
    phase: "Pausing",
    replicas: vc.workload.replicas,
    startedAt: new Date().toISOString(),
    backingStore: ctx.target.description,
    ...(input.newVCluster ? { newVCluster: true } : {}),
    ...(input.includeVolumes ? { includeVolumes: true } : {}),
  };
  const phase = async (p: RestorePhase, message?: string) => {
    state = { ...state, phase: p, ...(message ? { message } : {}) };
    await recordPhase(kube, vc, state);
  };
  if (pending) {
    report({
      kind: "info",
      text: `continuing the interrupted restore ${pending.id} (it stopped at phase ${pending.phase}); its backup of the old data is kept, never overwritten`,
    });
  } else {
    report({
      kind: "step",
      text: `Pausing vCluster ${vc.namespace}/${vc.name}: recording ${state.replicas} replica(s) and scaling ${vc.workload.kind} ${vc.workload.name} to 0`,
    });
    await pauseForRestore(kube, vc, state);
  }
  report({ kind: "step", text: "Waiting for its pods to stop" });
  await waitPodsGone(kube, vc, timeouts.podsGoneMs ?? 3 * 60_000, ctx.signal);
  report({ kind: "done", text: "no pods left" });

  await phase("Restoring");
  if (ctx.target.warning) report({ kind: "warn", text: ctx.target.warning });
  report({
    kind: "step",
    text: `Restoring ${ctx.target.description} with Job ${vc.namespace}/vsnap-restore-${state.id}`,
  });
  const restore = await runJob({ ...ctx, id: state.id }, "restore");
  for (const step of restore.result?.steps ?? []) report({ kind: "info", text: step });
  const jobSteps = [...(restore.result?.steps ?? [])];
  if (!restore.succeeded) {
    const recovered = await failed(ctx, state, restore, phase);
    if ("outcome" in recovered) return recovered.outcome;
    jobSteps.push(...recovered.steps);
  }
  const restored = restore.result?.restored;
  report({ kind: "done", text: "backing store restored" });

  let volumes: VolumeRestoreResult[] | undefined;
  let failure: RestoreFailure | undefined;
  const records = ctx.summary.volumes as readonly VolumeSnapshotRecord[] | undefined;
  if (input.includeVolumes && records?.length) {
    await phase("RestoringVolumes");
    report({
      kind: "step",
      text: `Restoring ${records.filter((r) => r.phase === "Completed").length} volume(s) from their CSI snapshots`,
    });
    volumes = await restoreVolumes(kube, {
      records,
      restoreId: state.id,
      target: (r) => volumeTarget(ctx, r),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(timeouts.volumeMs ? { timeoutMs: timeouts.volumeMs } : {}),
      ...(timeouts.pollMs ? { pollMs: timeouts.pollMs } : {}),
      ...(timeouts.volumeErrorGraceMs !== undefined ? { errorGraceMs: timeouts.volumeErrorGraceMs } : {}),
      onVolume: (v) =>
        report({
          kind: v.phase === "Failed" ? "warn" : "info",
          text: `volume ${v.key}: ${v.phase}: ${v.message}`,
        }),
    });
    const bad = volumes.filter((v) => v.phase === "Failed");
    if (bad.length)
      failure = {
        stage: "volumes",
        message: `${bad.length} of ${volumes.length} volumes could not be restored: ${bad.map((v) => `${v.key}: ${v.message}`).join("; ")}`,
        oldDataInPlace: false,
        resumed: true,
        next: "the backing store was restored; re-run the restore with --include-volumes after fixing the cause (restored PVCs are skipped)",
      };
  }
  await phase("Resuming");
  report({
    kind: "step",
    text: `Resuming vCluster ${vc.namespace}/${vc.name} with ${state.replicas} replica(s)`,
  });
  await resumeAfterRestore(kube, vc, state.replicas);
  const ready = await waitReady(kube, vc, state.replicas, timeouts.readyMs ?? 5 * 60_000, ctx.signal);
  report(
    ready
      ? { kind: "done", text: "ready" }
      : {
          kind: "warn",
          text: `not Ready after ${Math.round((timeouts.readyMs ?? 300_000) / 1000)}s: check its pods`,
        },
  );
  return {
    ok: !failure,
    ...(restored ? { restored } : {}),
    ...(volumes ? { volumes } : {}),
    ready,
    ...(failure ? { failure } : {}),
    jobSteps,
  };
}

type Outcome = Omit<ClusterRestoreOutcome, "vcluster" | "target" | "seconds" | "id" | "url" | "archive">;

/**
 * The restore Job failed: put the old data back (unless it already did), then resume, or stay
 * stopped and say why. Resolves `steps` instead of an outcome when the restore turns out to
 * have finished before its pod died.
 */
async function failed(
  ctx: Ctx,
  state: RestoreState,
  restore: JobOutcome,
  phase: (p: RestorePhase, message?: string) => Promise<void>,
): Promise<{ outcome: Outcome } | { steps: readonly string[] }> {
  const { kube, vc, report } = ctx;
  const timeouts = ctx.input.timeouts ?? {};
  const why = restore.result?.error ?? `the restore Job failed (${restore.reason})`;
  report({ kind: "warn", text: `restore failed: ${why}` });
  let oldDataInPlace = restore.result?.oldDataInPlace === true;
  let rollbackSteps: readonly string[] = [];
  if (!oldDataInPlace) {
    await phase("RollingBack", why);
    report({
      kind: "step",
      text: `Putting the old data back with Job ${vc.namespace}/vsnap-restore-${state.id}-rollback`,
    });
    let rollback: JobOutcome | undefined;
    try {
      rollback = await runJob({ ...ctx, id: state.id }, "rollback");
    } catch (error) {
      rollback = { succeeded: false, reason: VsnapError.wrap(error, "INTERNAL").message };
    }
    rollbackSteps = rollback.result?.steps ?? [];
    for (const step of rollbackSteps) report({ kind: "info", text: step });
    if (rollback.succeeded && rollback.result?.restoreCompleted) {
      // the pod died after the restore was complete: carry on as a successful restore
      report({
        kind: "warn",
        text: "the restore had completed before its pod stopped; continuing with the restored data",
      });
      return { steps: rollbackSteps };
    }
    oldDataInPlace = rollback.succeeded && rollback.result?.oldDataInPlace === true;
    if (!oldDataInPlace) {
      const message = `${why}; putting the old data back failed too: ${rollback.result?.error ?? rollback.reason}`;
      await phase("RollbackFailed", message).catch(() => {});
      const outcome: Outcome = {
        ok: false,
        failure: {
          stage: "rollback",
          message,
          oldDataInPlace: false,
          resumed: false,
          next: `vCluster ${vc.namespace}/${vc.name} was left scaled to 0 (its data is in an unknown state). Retry with \`vsnap restore ${vc.name} "${state.display}" -n ${vc.namespace}\` (the backup of the old data is kept), or \`vsnap restore ${vc.name} --undo -n ${vc.namespace}\` to retry putting it back`,
        },
        jobSteps: [...(restore.result?.steps ?? []), ...rollbackSteps],
      };
      return { outcome };
    }
  }
  report({ kind: "done", text: "the old data is back in place" });
  report({
    kind: "step",
    text: `Resuming vCluster ${vc.namespace}/${vc.name} with its old data (${state.replicas} replica(s))`,
  });
  await resumeAfterRestore(kube, vc, state.replicas);
  const ready = await waitReady(kube, vc, state.replicas, timeouts.readyMs ?? 5 * 60_000, ctx.signal);
  report(
    ready
      ? { kind: "done", text: "ready (unchanged)" }
      : { kind: "warn", text: "not Ready yet: check its pods" },
  );
  return {
    outcome: {
      ok: false,
      ready,
      failure: {
        stage: "restore",
        message: why,
        oldDataInPlace: true,
        resumed: true,
        next: "nothing changed; fix the cause and run the restore again",
      },
      jobSteps: [...(restore.result?.steps ?? []), ...rollbackSteps],
    },
  };
}

async function waitForVCluster(
  kube: Kube,
  name: string,
  namespace: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<VCluster> {
  const started = Date.now();
  for (;;) {
    try {
      const vc = await findVCluster(kube, name, { namespace });
      if (vc.status === "Running") return vc;
    } catch (error) {
      if (!VsnapError.is(error, "NOT_FOUND")) throw error;
    }
    if (Date.now() - started > timeoutMs)
      throw new VsnapError(
        "TIMEOUT",
        `vCluster "${name}" did not come up in namespace "${namespace}" within ${Math.round(timeoutMs / 1000)}s after helm installed it`,
      );
    await sleep(500, signal);
  }
}

export interface UndoInput {
  readonly name: string;
  readonly namespace?: string;
  readonly image?: string;
  readonly etcd?: ClusterRestoreInput["etcd"];
  readonly timeouts?: RestoreTimeouts;
  readonly signal?: AbortSignal;
  readonly report?: (event: RestoreEvent) => void;
}

/**
 * `vsnap restore NAME --undo`: the vCluster carries an unfinished restore (the CLI was killed, or
 * putting the old data back failed): put the old data back from the backup and resume.
 */
export async function undoRestore(
  kube: Kube,
  input: UndoInput,
): Promise<{ ok: boolean; steps: readonly string[]; message: string }> {
  const report = input.report ?? noop;
  const vc = await findVCluster(kube, input.name, input.namespace ? { namespace: input.namespace } : {});
  const state = readRestoreState(vc);
  if (!state)
    throw new VsnapError("NOT_FOUND", `vCluster "${vc.name}" has no unfinished restore to undo`, {
      hint: "a finished restore's old data is not kept; restore an older snapshot instead",
    });
  const config = await readVClusterConfig(kube, vc);
  const store = overrideEtcd(detectBackingStore(config, vc), input.etcd);
  const template = await workloadTemplate(kube, vc);
  const target = dataTarget(store, template, vc);
  report({
    kind: "info",
    text: `restore ${state.id} of ${state.display} stopped at phase ${state.phase}${state.message ? ` (${state.message})` : ""}`,
  });
  await pauseForRestore(kube, vc, { ...state, phase: "RollingBack" });
  report({ kind: "step", text: "Waiting for the vCluster's pods to stop" });
  await waitPodsGone(kube, vc, input.timeouts?.podsGoneMs ?? 3 * 60_000, input.signal);
  const ctx: Ctx = {
    kube,
    input: {
      name: vc.name,
      url: "",
      registry: undefined as unknown as PluginRegistry,
      env: {},
      ...(input.image ? { image: input.image } : {}),
      ...(input.timeouts ? { timeouts: input.timeouts } : {}),
    },
    report,
    id: state.id,
    location: { scheme: "", plugin: "", key: "", display: state.display, publicUrl: state.url, options: {} },
    summary: { sha256: "" } as ArchiveSummary,
    vc,
    template,
    target,
    options: "",
    signal: input.signal,
  };
  report({
    kind: "step",
    text: `Putting the old data back with Job ${vc.namespace}/vsnap-restore-${state.id}-rollback`,
  });
  // a restore Job of the interrupted run may still be writing: it is stopped (and removed) first
  await removeStaleJob(
    kube,
    vc.namespace,
    `vsnap-restore-${state.id}`,
    `vsnap-restore-${state.id}`,
    input.signal,
  );
  const rollback = await runJob(ctx, "rollback");
  const steps = rollback.result?.steps ?? [];
  for (const s of steps) report({ kind: "info", text: s });
  if (rollback.succeeded && rollback.result?.restoreCompleted) {
    // nothing left to undo: the restore finished and dropped its backup; the data is consistent
    await resumeAfterRestore(kube, vc, state.replicas);
    return {
      ok: false,
      steps,
      message: `restore ${state.id} had completed, so its backup of the old data was already removed; the vCluster was resumed with the restored data (restore an older snapshot to go back)`,
    };
  }
  if (!rollback.succeeded || rollback.result?.oldDataInPlace !== true) {
    const message = rollback.result?.error ?? rollback.reason;
    await recordPhase(kube, vc, { ...state, phase: "RollbackFailed", message }).catch(() => {});
    return {
      ok: false,
      steps,
      message: `putting the old data back failed: ${message}; the vCluster stays scaled to 0`,
    };
  }
  report({
    kind: "step",
    text: `Resuming vCluster ${vc.namespace}/${vc.name} with ${state.replicas} replica(s)`,
  });
  await resumeAfterRestore(kube, vc, state.replicas);
  const ready = await waitReady(
    kube,
    vc,
    state.replicas,
    input.timeouts?.readyMs ?? 5 * 60_000,
    input.signal,
  );
  return {
    ok: true,
    steps,
    message: `the data from before restore ${state.id} is back${ready ? "; the vCluster is ready" : "; the vCluster is starting"}`,
  };
}

export type { RestoreDataResult };
