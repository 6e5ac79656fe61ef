import { VsnapError } from "@vsnap/core";
import {
  type ClusterRestoreOutcome,
  type DryRunPlan,
  type RestoreEvent,
  restoreVCluster,
  undoRestore,
} from "@vsnap/kube";
import { kubeFrom } from "./cluster-common.js";
import { type CommandContext, stringOption } from "./command.js";
import { EXIT } from "./exit-codes.js";
import { formatBytes, formatCount, type Output, renderTable } from "./output.js";
import { progressLine } from "./progress-text.js";
import { applyStoreFlags } from "./store-flags.js";

/** Renders restore events: steps and their outcomes on stderr, a live line for transfers. */
function reporter(out: Output): { report: (e: RestoreEvent) => void; done(): void } {
  const progress = out.progress();
  const started = Date.now();
  return {
    report(e) {
      if (e.kind === "progress") {
        progress.update(() => progressLine(e.progress, started));
        return;
      }
      progress.done();
      if (e.kind === "step") out.info(`${e.text} ...`);
      else if (e.kind === "done") out.info(`  ${e.text}`);
      else if (e.kind === "info") out.info(`  ${e.text}`);
      else out.warn(e.text);
    },
    done: () => progress.done(),
  };
}

function durationMs(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const parts = [...raw.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join("") !== raw)
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `--timeout must be a duration like 90s, 30m or 1h, got "${raw}"`,
    );
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * (unit[p[2] ?? "s"] ?? 1000), 0);
}

export async function restoreClusterCommand(ctx: CommandContext): Promise<number> {
  const { args, options, out, env, signal } = ctx;
  const kube = kubeFrom(options);
  const namespace = stringOption(options, "namespace");
  const image = stringOption(options, "image") ?? env.VSNAP_RESTORE_IMAGE;
  const etcdEndpoints = stringOption(options, "etcd-endpoints");
  const fastTimeouts = env.VSNAP_RESTORE_POLL_MS
    ? { pollMs: Number(env.VSNAP_RESTORE_POLL_MS), volumeErrorGraceMs: Number(env.VSNAP_RESTORE_POLL_MS) * 5 }
    : {};
  const timeouts = { jobMs: durationMs(stringOption(options, "timeout"), 30 * 60_000), ...fastTimeouts };
  const { report, done } = reporter(out);
  if (options.undo === true) {
    try {
      const result = await undoRestore(kube, {
        name: args[0]!,
        ...(namespace ? { namespace } : {}),
        ...(image ? { image } : {}),
        ...(etcdEndpoints ? { etcd: { endpoints: etcdEndpoints.split(",") } } : {}),
        timeouts,
        signal,
        report,
      });
      done();
      out.result(result, () => ({
        headers: ["UNDO", "RESULT"],
        rows: [[result.ok ? "done" : "FAILED", result.message]],
      }));
      return result.ok ? EXIT.OK : EXIT.FAILURE;
    } finally {
      done();
    }
  }
  const registry = ctx.registry();
  const url = await applyStoreFlags(args[1]!, options, registry);
  let outcome: ClusterRestoreOutcome;
  try {
    outcome = await restoreVCluster(kube, {
      name: args[0]!,
      ...(namespace ? { namespace } : {}),
      url,
      registry,
      env,
      dryRun: options["dry-run"] === true,
      includeVolumes: options["include-volumes"] === true,
      newVCluster: options["new-vcluster"] === true,
      install: options.install === true,
      helm: { valuesDir: ctx.cwd, ...(env.VSNAP_HELM ? { binary: env.VSNAP_HELM } : {}) },
      ...(image ? { image } : {}),
      ...(etcdEndpoints ? { etcd: { endpoints: etcdEndpoints.split(",") } } : {}),
      timeouts,
      signal,
      report,
    });
  } finally {
    done();
  }
  if (out.format !== "table") {
    out.result(outcome, () => ({ headers: [], rows: [] }));
    return outcome.ok ? EXIT.OK : outcome.install ? EXIT.NOT_FOUND : EXIT.FAILURE;
  }
  if (outcome.install) return printInstallPlan(out, outcome, args[1]!, namespace);
  if (outcome.dryRun) {
    printDryRun(out, outcome, outcome.dryRun);
    return EXIT.OK;
  }
  printOutcome(out, outcome);
  return outcome.ok ? EXIT.OK : EXIT.FAILURE;
}

function printInstallPlan(
  out: Output,
  outcome: ClusterRestoreOutcome,
  url: string,
  namespace: string | undefined,
): number {
  const plan = outcome.install!;
  const { name } = outcome.vcluster;
  out.print(`vCluster "${name}" does not exist in namespace "${namespace}". The snapshot can create it:`);
  out.print("");
  if (plan.valuesYaml) {
    out.print(`Values from the snapshot (written to ${plan.valuesFile}):`);
    out.print("");
    for (const line of plan.valuesYaml.trimEnd().split("\n")) out.print(`  ${line}`);
    out.print("");
  } else
    out.print("The snapshot records no Helm values or vcluster.yaml: the chart's defaults would be used.\n");
  out.print("Create it with:");
  out.print(`  ${plan.command}`);
  out.print("then restore into it:");
  out.print(`  vsnap restore ${name} "${url}" -n ${namespace} --new-vcluster`);
  out.print("");
  out.print("Or let vsnap do both: add --install. Nothing was changed.");
  return EXIT.NOT_FOUND;
}

function printDryRun(out: Output, outcome: ClusterRestoreOutcome, plan: DryRunPlan): void {
  const { diff } = plan;
  out.print(`Dry run: restoring ${outcome.url}`);
  out.print(
    `into vCluster ${outcome.vcluster.namespace}/${outcome.vcluster.name} (${outcome.target}) would change:`,
  );
  out.print("");
  const rows = diff.types
    .filter((t) => t.added + t.removed + t.changed > 0)
    .map((t) => [
      t.type,
      formatCount(t.added),
      formatCount(t.removed),
      formatCount(t.changed),
      formatCount(t.unchanged),
    ]);
  const unchangedTypes = diff.types.filter((t) => t.added + t.removed + t.changed === 0);
  if (unchangedTypes.length)
    rows.push([
      `(${unchangedTypes.length} types unchanged)`,
      "0",
      "0",
      "0",
      formatCount(unchangedTypes.reduce((n, t) => n + t.unchanged, 0)),
    ]);
  rows.push([
    "TOTAL",
    formatCount(diff.totals.added),
    formatCount(diff.totals.removed),
    formatCount(diff.totals.changed),
    formatCount(diff.totals.unchanged),
  ]);
  out.print(renderTable(["RESOURCE", "ADDED", "REMOVED", "CHANGED", "UNCHANGED"], rows));
  out.print("");
  for (const t of diff.types) {
    const parts = [
      ...t.examples.added.map((e) => `+${e}`),
      ...t.examples.removed.map((e) => `-${e}`),
      ...t.examples.changed.map((e) => `~${e}`),
    ];
    if (parts.length)
      out.print(
        `  ${t.type}: ${parts.join(" ")}${t.added + t.removed + t.changed > parts.length ? " ..." : ""}`,
      );
  }
  if (diff.dropped)
    out.print(`  (${diff.dropped} keys of the old vCluster left out: name mappings, kube-root-ca.crt)`);
  out.print("");
  const r = plan.release;
  const snap = r.snapshot
    ? `${r.snapshot.chart} ${r.snapshot.chartVersion} (release ${r.snapshot.namespace}/${r.snapshot.name})`
    : "not recorded";
  const live = r.live
    ? `${r.live.chart} ${r.live.chartVersion} (release ${r.live.namespace}/${r.live.name}, revision ${r.live.revision})`
    : "none found";
  out.print(`Helm release: snapshot ${snap}; live ${live}`);
  if (r.snapshot && r.live)
    out.print(
      `  chart version ${r.chartVersionDiffers ? `DIFFERS (${r.snapshot.chartVersion} in the snapshot, ${r.live.chartVersion} live)` : "is the same"}; values ${r.valuesDiffer ? "DIFFER" : "are the same"}${r.chartVersionDiffers || r.valuesDiffer ? " (vsnap restores the data only; apply the snapshot's chart and values with helm if you want them)" : ""}`,
    );
  out.print(
    `vcluster.yaml: ${!plan.config.inSnapshot ? "not recorded in the snapshot" : plan.config.identical ? "same as live" : `differs from live in: ${plan.config.changedKeys.join(", ") || "formatting"}`}`,
  );
  const v = plan.volumes;
  if (v.recorded) {
    out.print(`Volumes: ${v.recorded} recorded in the snapshot (restored only with --include-volumes)`);
    if (v.restorable.length) out.print(`  would restore: ${v.restorable.join(", ")}`);
    if (v.existing.length)
      out.print(`  would leave alone (PVC exists, a warning event is recorded): ${v.existing.join(", ")}`);
    if (v.notInSnapshot.length) out.print(`  not in the snapshot: ${v.notInSnapshot.join("; ")}`);
  }
  out.print("");
  out.print(
    `Nothing was changed. To restore: vsnap restore ${outcome.vcluster.name} URL -n ${outcome.vcluster.namespace}${v.recorded ? " [--include-volumes]" : ""}`,
  );
}

function printOutcome(out: Output, outcome: ClusterRestoreOutcome): void {
  const vols = outcome.volumes;
  // of the volumes the snapshot holds a copy of (the others were skipped when it was taken)
  const copies = vols?.filter((v) => v.snapshotHandle);
  const volumes = copies
    ? `${copies.filter((v) => v.phase === "Restored" || v.phase === "Provisioning").length}/${copies.length}`
    : "-";
  const restored = outcome.restored;
  out.print(
    renderTable(
      ["SNAPSHOT", "VCLUSTER", "STATUS", "KEYS", "DATA", "REVISION", "VOLUMES", "TIME"],
      [
        [
          outcome.url,
          `${outcome.vcluster.namespace}/${outcome.vcluster.name}`,
          outcome.ok ? "Restored" : outcome.failure?.stage === "volumes" ? "PartiallyRestored" : "Failed",
          restored ? formatCount(restored.keys) : "-",
          restored ? formatBytes(restored.bytes) : "-",
          restored ? String(restored.revision) : "-",
          volumes,
          `${outcome.seconds.toFixed(1)}s`,
        ],
      ],
    ),
  );
  const f = outcome.failure;
  if (!f) return;
  out.print("");
  out.print(`Error: ${f.message}`);
  out.print(
    `  old data in place: ${f.oldDataInPlace ? "yes" : f.stage === "volumes" ? "no (the snapshot's data was restored)" : "NO"}`,
  );
  out.print(`  vCluster resumed: ${f.resumed ? "yes" : "NO (left scaled to 0)"}`);
  if (f.next) out.print(`  next: ${f.next}`);
}
