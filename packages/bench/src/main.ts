/**
 * `pnpm bench`: generates SQLite (kine) and etcd backing stores at several sizes, measures vsnap's
 * snapshot and restore into every installed store, runs the pipelines users script instead on the
 * same data, and writes docs/benchmarks.md. Each measured operation is its own child process.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startEtcd } from "@vsnap/test-servers/etcd";
import { freePort } from "@vsnap/test-servers/ports";
import { type BenchOptions, parseBenchArgs, USAGE } from "./args.js";
import { BASELINE_NAMES, type BaselineSource, dumpAndGzip, q, vclusterStyle } from "./baselines.js";
import { COMPRESSOR_DESIGNS, type CompressorDesign } from "./compressors.js";
import { startBenchEtcd } from "./etcd-server.js";
import { checkFloors } from "./floors.js";
import type { CompressionSpec, Job, SourceSpec } from "./jobs.js";
import { describeMachine } from "./machine.js";
import { MachineSpeed } from "./machine-speed.js";
import { type Measurement, measureJob, measureSteps, type RunOptions } from "./measure.js";
import { loadDemoGenerator, loadSqliteBacking } from "./optional.js";
import { summarizeProfileDir } from "./profile.js";
import { extractNotes, renderReport } from "./report.js";
import {
  type Backing,
  type BenchResults,
  DATA_DIR_TOOL,
  type Dataset,
  type DesignRow,
  type InteropCheck,
  type MatrixRow,
  MiB,
  median,
  type PageRow,
  type Row,
  ratios,
  type StageRow,
} from "./results.js";
import { type BenchStore, packageVersion, setupStores } from "./stores.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");

/** One measurement to repeat: what the log calls it, one run, and what to clear before the next. */
interface Step {
  readonly what: string;
  readonly once: () => Promise<Measurement>;
  readonly between?: () => Promise<void>;
}

/** A repeated measurement: the run with the median wall time, every wall time, every run. */
interface Repeated {
  readonly m: Measurement;
  readonly walls: readonly number[];
  readonly runs: readonly Measurement[];
}

function medianRun(runs: readonly Measurement[]): Repeated {
  const walls = runs.map((r) => r.wallMs);
  const mid = median(walls);
  const m = runs.reduce((a, b) => (Math.abs(a.wallMs - mid) <= Math.abs(b.wallMs - mid) ? a : b));
  return { m, walls, runs };
}

interface EtcdServerLike {
  readonly endpoint: string;
  cpuSeconds(): number;
  close(): Promise<void>;
}

/** Runs a measurement and adds what the etcd server spent meanwhile. */
async function tracked(
  server: EtcdServerLike | undefined,
  run: () => Promise<Measurement>,
): Promise<Measurement> {
  if (!server) return run();
  const before = server.cpuSeconds();
  const m = await run();
  return { ...m, serverCpuMs: (server.cpuSeconds() - before) * 1000 };
}

const started = Date.now();
const log = (message: string) => {
  const t = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${t}s] ${message}\n`);
};

class Bench {
  readonly rows: Row[] = [];
  readonly stages: StageRow[] = [];
  readonly datasets: Dataset[] = [];
  readonly skipped: string[] = [];
  matrix: BenchResults["matrix"];
  designs: BenchResults["designs"];
  pages: BenchResults["pages"];
  profile: BenchResults["profile"];
  interop: BenchResults["interop"];
  /** Every run behind a repeated row (the row keeps the median one), for comparisons that add runs. */
  readonly runsOf = new WeakMap<Row, readonly Measurement[]>();
  /** Probed before every measured run (not in a --quick run, whose speed nobody reads). */
  readonly speed: MachineSpeed | undefined;
  #runs = 0;

  constructor(
    readonly options: BenchOptions,
    readonly work: string,
  ) {
    this.speed = options.quick ? undefined : new MachineSpeed();
  }

  /** Runs one measurement, noting how fast the machine was as it started. */
  async measured(run: () => Promise<Measurement>): Promise<Measurement> {
    const probeMs = this.speed?.probe();
    const m = await run();
    return probeMs === undefined ? m : { ...m, probeMs };
  }

  get timeoutMs(): number {
    return this.options.quick ? 5 * 60_000 : 30 * 60_000;
  }

  /**
   * Whether a size runs the lean set: the vCluster-style pipeline to container:// only, and etcd
   * restores from container:// only (the stores' read and upload paths are measured at the
   * smaller sizes and by the snapshots). --quick always, large sizes unless --thorough.
   */
  lean(keys: number): boolean {
    const lean = this.options.quick || this.big(keys);
    if (lean && !this.#leanNoted) {
      this.#leanNoted = true;
      this.skipped.push(
        `${this.options.quick ? "--quick" : "sizes above 200k keys (without --thorough)"}: the vCluster-style pipeline runs to container:// only, and etcd restores read from container:// only`,
      );
    }
    return lean;
  }
  #leanNoted = false;

  /**
   * A large size (above 200k keys, without --thorough) also skips the etcd db-mode snapshot to
   * s3:// and oci:// and the SQLite restores from them: each store's paths are measured at the
   * smaller size, and a full run stays within half an hour.
   */
  big(keys: number): boolean {
    const big = !this.options.quick && !this.options.thorough && keys > 200_000;
    if (big && !this.#bigNoted) {
      this.#bigNoted = true;
      this.skipped.push(
        "sizes above 200k keys (without --thorough): the etcd db-mode snapshot goes to container:// only, and SQLite restores read from container:// only",
      );
    }
    return big;
  }
  #bigNoted = false;

  /** A fresh run folder (its TMPDIR, working dir and, for container://, the destination). */
  runDir(label: string): string {
    const dir = path.join(this.work, `run-${++this.#runs}-${label.replace(/[^a-z0-9]+/gi, "-")}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  runOptions(dir: string, extra: Partial<RunOptions> = {}): RunOptions {
    return { scratch: path.join(dir, "sandbox"), timeoutMs: this.timeoutMs, ...extra };
  }

  /** Repeats a measurement (`times`, default --repeat) and keeps the run with the median wall time. */
  async repeat(
    what: string,
    once: () => Promise<Measurement>,
    between?: () => Promise<void>,
    times = this.options.repeat,
  ): Promise<Repeated> {
    const [result] = await this.alternate([{ what, once, ...(between ? { between } : {}) }], times);
    return result!;
  }

  /**
   * Runs `steps` in turn, `times` rounds (A B A B ...), and keeps each step's median run. Figures
   * that are compared with each other are taken alternately, so that the machine's slow minutes
   * (its speed drifts by 10–30 % over minutes) fall on both sides. Stops at the first failure.
   */
  async alternate(steps: readonly Step[], times: number): Promise<Repeated[]> {
    const runs = steps.map((): Measurement[] => []);
    rounds: for (let i = 0; i < times; i++) {
      for (const [s, step] of steps.entries()) {
        if (i > 0) await step.between?.();
        const m = await this.measured(step.once);
        runs[s]!.push(m);
        log(
          `${step.what}: ${m.error ? `FAILED ${m.error}` : `${(m.wallMs / 1000).toFixed(2)} s, ${((m.peakRssBytes ?? 0) / MiB).toFixed(0)} MiB RSS, temp ${m.tempBytes} B`}`,
        );
        if (m.error) break rounds;
      }
    }
    return runs.filter((r) => r.length > 0).map(medianRun);
  }

  /**
   * Rounds of the measurements the restore floor compares (a snapshot and vsnap's fastest way
   * back from it, alternating): at least three, so that one busy moment decides neither side. For
   * every store at the smaller sizes, for container:// at all.
   */
  floorRuns(store: BenchStore, keys: number): number {
    return !this.options.quick && (store.name === "container" || !this.big(keys))
      ? Math.max(this.options.repeat, 3)
      : this.options.repeat;
  }
}

async function main(): Promise<void> {
  const parsed = parseBenchArgs(process.argv.slice(2), repoRoot);
  if (parsed === "help") {
    process.stdout.write(USAGE);
    return;
  }
  const options = parsed;
  const machine = describeMachine();
  mkdirSync(options.workDir, { recursive: true });
  const work = mkdtempSync(path.join(options.workDir, "vsnap-bench-"));
  const bench = new Bench(options, work);
  log(`scratch in ${work}; sizes ${options.sizes.map((s) => s.label).join(", ")}; ${machine.cpus} CPUs`);

  const demo = await loadDemoGenerator();
  if (!demo.ok) throw new Error(`cannot generate datasets: ${demo.reason}`);
  const sqlite = options.backings.includes("sqlite") ? await loadSqliteBacking() : undefined;
  if (sqlite && !sqlite.ok) bench.skipped.push(`SQLite backing: ${sqlite.reason}`);
  const useSqlite = sqlite?.ok === true;
  let startEtcd: (() => Promise<EtcdServerLike>) | undefined;
  if (options.backings.includes("etcd")) {
    if (!hasCommand("etcd") || !hasCommand("etcdctl"))
      bench.skipped.push(
        "etcd backing: etcd/etcdctl not installed (apt-get install etcd-server etcd-client)",
      );
    else startEtcd = () => startBenchEtcd(work);
  }
  if (!useSqlite && !startEtcd) throw new Error(`no backing store to measure: ${bench.skipped.join("; ")}`);

  const largestKeys = Math.max(...options.sizes.map((s) => s.keys));
  const setup = await setupStores({
    names: options.stores,
    // radosgw keeps objects in RAM: room for the largest archive (~½ of the values) and a baseline's copy
    rgwMemstoreBytes: Math.max(1024 * MiB, Math.ceil((largestKeys * 2.5 * 1024) / MiB) * MiB),
    log,
  });
  for (const s of setup.skipped) bench.skipped.push(`store ${s.name}: ${s.reason}`);
  if (setup.stores.length === 0) throw new Error(`no store to measure: ${bench.skipped.join("; ")}`);

  const cleanup = async () => {
    for (const store of setup.stores) await store.close().catch(() => {});
    if (!options.keep) rmSync(work, { recursive: true, force: true });
  };
  const onSignal = () => {
    log("interrupted; stopping servers");
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    await bench.speed?.calibrate();
    for (const [index, size] of options.sizes.entries()) {
      await runSize(bench, size, index, setup.stores, {
        useSqlite,
        startEtcd,
        last: index === options.sizes.length - 1,
      });
    }
  } finally {
    await cleanup();
  }

  const versions: Record<string, string> = { ...setup.versions };
  for (const pkg of ["@vsnap/core", "@vsnap/backing-etcd", "@vsnap/backing-sqlite"])
    versions[pkg] = await packageVersion(pkg);
  const results: BenchResults = {
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
    quick: options.quick,
    machine,
    loadAfter: os.loadavg().map((l) => Math.round(l * 100) / 100),
    ...(bench.speed ? { machineSpeed: bench.speed.summary() } : {}),
    versions,
    notes: options.notes,
    skipped: bench.skipped,
    datasets: bench.datasets,
    rows: bench.rows,
    ...(bench.stages.length > 0 ? { stages: bench.stages } : {}),
    ...(bench.matrix ? { matrix: bench.matrix } : {}),
    ...(bench.designs ? { designs: bench.designs } : {}),
    ...(bench.pages ? { pages: bench.pages } : {}),
    ...(bench.profile ? { profile: bench.profile } : {}),
    ...(bench.interop ? { interop: bench.interop } : {}),
  };
  writeOutputs(results, options.out);
}

function baselinesFor(row: Row): { tool: string; store: string }[] {
  const family = row.backing === "sqlite" ? BASELINE_NAMES.sqlite : BASELINE_NAMES.etcd;
  return [
    { tool: family, store: "file" },
    { tool: BASELINE_NAMES.vcluster, store: row.store },
  ];
}

function writeOutputs(results: BenchResults, out: string): void {
  const ratioList = ratios(results.rows, baselinesFor);
  const kept = existsSync(out) ? extractNotes(readFileSync(out, "utf8")) : undefined;
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, renderReport(results, ratioList, kept));
  const json = `${out.replace(/\.md$/, "")}.json`;
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(
    `\nvsnap bench (${results.machine.cpus} CPUs, ${(results.durationMs / 1000).toFixed(0)} s)\n`,
  );
  for (const r of ratioList) {
    process.stdout.write(`  ${r.size} ${r.backing} → ${r.store}: ${r.ratio.toFixed(2)}× ${r.baseline}\n`);
  }
  for (const f of checkFloors(results, ratioList)) {
    process.stdout.write(
      `  ${f.pass === undefined ? "–" : f.pass ? "ok  " : "FAIL"} ${f.floor}: ${f.measured}\n`,
    );
  }
  const failed = results.rows.filter((r) => r.m.error);
  for (const r of failed)
    process.stdout.write(`  error: ${r.size} ${r.op} ${r.backing} ${r.store} ${r.tool}: ${r.m.error}\n`);
  for (const s of results.skipped) process.stdout.write(`  skipped: ${s}\n`);
  process.stdout.write(`report: ${out}\nraw figures: ${json}\n`);
  if (failed.length > 0) process.exitCode = 1;
}

interface SizeContext {
  readonly useSqlite: boolean;
  readonly startEtcd: (() => Promise<EtcdServerLike>) | undefined;
  readonly last: boolean;
}

async function runSize(
  bench: Bench,
  size: { label: string; keys: number },
  index: number,
  stores: readonly BenchStore[],
  ctx: SizeContext,
): Promise<void> {
  const { options } = bench;
  const sizeDir = path.join(bench.work, `data-${size.keys}`);
  mkdirSync(sizeDir, { recursive: true });
  const dataset: { -readonly [K in keyof Dataset]: Dataset[K] } = {
    label: size.label,
    keys: size.keys,
    valueBytes: 0,
    largestValue: 0,
  };
  const sqliteFile = path.join(sizeDir, "kine.db");
  let etcd: EtcdServerLike | undefined;
  try {
    if (ctx.useSqlite) {
      log(`${size.label}: generating SQLite (kine)`);
      const m = await measureJob(
        { op: "generate-sqlite", file: sqliteFile, keys: size.keys, seed: options.seed },
        bench.runOptions(bench.runDir("gen-sqlite")),
      );
      if (m.error || !m.result) throw new Error(`generating the SQLite store failed: ${m.error}`);
      dataset.valueBytes = m.result.bytes;
      dataset.keys = m.result.keys;
      dataset.largestValue = Number(m.result.extra?.largest ?? 0);
      dataset.sqliteFileBytes = fileBytes(sqliteFile) + fileBytes(`${sqliteFile}-wal`);
      dataset.sqliteGenerateMs = m.wallMs;
      log(
        `${size.label}: SQLite ${(dataset.sqliteFileBytes / MiB).toFixed(0)} MiB, ${dataset.keys} keys, ${(dataset.valueBytes / MiB).toFixed(0)} MiB values in ${(m.wallMs / 1000).toFixed(1)} s`,
      );
    }
    if (ctx.startEtcd) {
      log(`${size.label}: starting etcd and loading it`);
      etcd = await ctx.startEtcd();
      const m = await measureJob(
        { op: "load-etcd", endpoint: etcd.endpoint, keys: size.keys, seed: options.seed },
        bench.runOptions(bench.runDir("load-etcd")),
      );
      if (m.error || !m.result) throw new Error(`loading etcd failed: ${m.error}`);
      if (dataset.valueBytes === 0) {
        dataset.valueBytes = m.result.bytes;
        dataset.keys = m.result.keys;
        dataset.largestValue = Number(m.result.extra?.largest ?? 0);
      } else if (m.result.bytes !== dataset.valueBytes || m.result.keys !== dataset.keys) {
        throw new Error(
          `etcd and SQLite got different data (${m.result.keys} vs ${dataset.keys} keys): the generator is not deterministic`,
        );
      }
      dataset.etcdLoadMs = m.wallMs;
      dataset.etcdDbBytes = etcdDbSize(etcd.endpoint);
      log(
        `${size.label}: etcd db ${((dataset.etcdDbBytes ?? 0) / MiB).toFixed(0)} MiB, loaded in ${(m.wallMs / 1000).toFixed(1)} s`,
      );
    }
    bench.datasets.push(dataset);

    const sources: {
      backing: Backing;
      spec: SourceSpec;
      baseline: BaselineSource;
      server?: EtcdServerLike;
    }[] = [];
    if (ctx.useSqlite)
      sources.push({
        backing: "sqlite",
        spec: { kind: "sqlite", file: sqliteFile },
        baseline: { kind: "sqlite", file: sqliteFile },
      });
    if (etcd) {
      const baseline: BaselineSource = { kind: "etcd", endpoint: etcd.endpoint };
      sources.push({
        backing: "etcd kv",
        spec: { kind: "etcd", endpoint: etcd.endpoint, mode: "kv" },
        baseline,
        server: etcd,
      });
      sources.push({
        backing: "etcd db",
        spec: { kind: "etcd", endpoint: etcd.endpoint, mode: "db" },
        baseline,
        server: etcd,
      });
    }

    for (const source of sources) {
      for (const store of stores) {
        if (bench.big(size.keys) && source.backing === "etcd db" && store.name !== "container") continue;
        await snapshotAndRestore(bench, dataset, source, store, ctx, index === 0 && !bench.interop);
      }
    }

    // The snapshot taken apart, to see which stage sets the pace (not in a --quick smoke run).
    for (const source of sources.filter((s) => s.backing !== "etcd db" && !options.quick && index === 0)) {
      for (const stage of ["read", "archive"] as const) {
        const dir = bench.runDir(`stage-${stage}`);
        const { m } = await bench.repeat(
          `${size.label}: ${source.backing} ${stage === "read" ? "read only" : "archive, no store"}`,
          () => measureJob({ op: stage, source: source.spec }, bench.runOptions(dir)),
        );
        bench.stages.push({ size: size.label, backing: source.backing, stage, m });
        rmSync(dir, { recursive: true, force: true });
      }
    }

    if (options.baselines) {
      const families = new Map<
        string,
        { backing: Backing; baseline: BaselineSource; name: string; server?: EtcdServerLike }
      >();
      if (ctx.useSqlite)
        families.set("sqlite", {
          backing: "sqlite",
          baseline: { kind: "sqlite", file: sqliteFile },
          name: BASELINE_NAMES.sqlite,
        });
      if (etcd)
        families.set("etcd", {
          backing: "etcd",
          baseline: { kind: "etcd", endpoint: etcd.endpoint },
          name: BASELINE_NAMES.etcd,
          server: etcd,
        });
      for (const family of families.values()) {
        const dir = bench.runDir(`base-${family.backing}`);
        const outDir = path.join(dir, "out");
        const what = `${size.label}: ${family.name}`;
        const result = await bench.repeat(
          what,
          () =>
            tracked(family.server, () =>
              measureSteps(
                dumpAndGzip(family.baseline, path.join(outDir, "dump.db.gz")),
                bench.runOptions(dir, { outputDir: outDir, expectedOutputs: ["dump.db.gz"] }),
              ),
            ),
          async () => rmSync(outDir, { recursive: true, force: true }),
        );
        bench.rows.push({
          size: size.label,
          backing: family.backing,
          store: "file",
          tool: family.name,
          op: "snapshot",
          ...result,
        });
        rmSync(dir, { recursive: true, force: true });
        // --quick: the vCluster-style pipeline to container:// only (its upload step is the same elsewhere)
        for (const store of stores.filter((s) => !bench.lean(size.keys) || s.name === "container")) {
          const sdir = bench.runDir(`vc-${family.backing}-${store.name}`);
          const key = `vcluster-${family.backing}.tar.gz`;
          const out = store.outputDir(sdir);
          const r = await bench.repeat(
            `${size.label}: vCluster-style ${family.backing} → ${store.name}`,
            () =>
              tracked(family.server, () =>
                measureSteps(
                  vclusterStyle(family.baseline, (file) => store.uploadCommand(file, key, sdir)),
                  bench.runOptions(sdir, out ? { outputDir: out, expectedOutputs: [key] } : {}),
                ),
              ),
            () => store.remove(key, sdir).catch(() => {}),
          );
          bench.rows.push({
            size: size.label,
            backing: family.backing,
            store: store.name,
            tool: BASELINE_NAMES.vcluster,
            op: "snapshot",
            ...r,
          });
          await store.remove(key, sdir).catch(() => {});
          rmSync(sdir, { recursive: true, force: true });
        }
      }
    }

    if (options.baselines && !options.quick) {
      // The floor's comparison, run twice more, alternating, so a busy moment cannot decide it alone.
      if (etcd)
        await headline(bench, dataset, "etcd kv", sources, { kind: "etcd", endpoint: etcd.endpoint }, stores);
      if (ctx.useSqlite && !bench.lean(size.keys)) {
        await headline(bench, dataset, "sqlite", sources, { kind: "sqlite", file: sqliteFile }, stores);
      }
    }

    if (etcd && index === 0 && bench.options.designs) await etcdPages(bench, dataset, etcd.endpoint);

    const container = stores.find((s) => s.name === "container");
    if (options.matrix && index === 0 && container && sources[0]) {
      await compressionMatrix(bench, dataset, sources[0], container);
    }
    if (options.profile && ctx.last && container && etcd) {
      await profileRun(bench, dataset, { kind: "etcd", endpoint: etcd.endpoint, mode: "kv" }, container);
    }
  } finally {
    await etcd?.close();
    rmSync(sizeDir, { recursive: true, force: true });
  }
}

async function snapshotAndRestore(
  bench: Bench,
  dataset: Dataset,
  source: { backing: Backing; spec: SourceSpec; server?: EtcdServerLike },
  store: BenchStore,
  ctx: SizeContext,
  interop: boolean,
): Promise<void> {
  const dir = bench.runDir(`${source.backing}-${store.name}`);
  const key = `vsnap-${source.backing.replace(" ", "-")}.tar.gz`;
  const out = store.outputDir(dir);
  const snapshot: Step = {
    what: `${dataset.label}: vsnap snapshot ${source.backing} → ${store.name}`,
    once: () =>
      tracked(source.server, () =>
        measureJob(
          { op: "snapshot", source: source.spec, store: store.spec(key, dir) },
          bench.runOptions(dir, out ? { outputDir: out, expectedOutputs: [key] } : {}),
        ),
      ),
    between: () => store.remove(key, dir).catch(() => {}),
  };
  // lean sizes restore etcd from container:// only: an etcd restore is the slowest step and the store read path is measured elsewhere
  const restoreHere =
    bench.options.restore &&
    !(bench.lean(dataset.keys) && source.backing !== "sqlite" && store.name !== "container") &&
    !(bench.big(dataset.keys) && store.name !== "container");
  // vsnap's fastest way back (the restore floor's): a new kine database, or a new etcd data dir
  const fastest = restoreHere
    ? source.backing === "sqlite"
      ? sqliteRestore(bench, dataset, store, key, dir)
      : dataDirRestore(bench, dataset, source.backing, store, key, dir)
    : undefined;
  try {
    const [snap, restore] = await bench.alternate(
      fastest ? [snapshot, fastest.step] : [snapshot],
      bench.floorRuns(store, dataset.keys),
    );
    const snapRow: Row = {
      size: dataset.label,
      backing: source.backing,
      store: store.name,
      tool: "vsnap",
      op: "snapshot",
      m: snap!.m,
      walls: snap!.walls,
      ...(fastest ? { alternated: snap!.walls } : {}),
    };
    bench.rows.push(snapRow);
    bench.runsOf.set(snapRow, snap!.runs);
    if (snap!.m.error) return;

    if (interop && out)
      bench.interop = {
        size: dataset.label,
        archive: `vsnap ${source.backing} snapshot`,
        checks: interopChecks(path.join(out, key), dataset.keys),
      };
    if (fastest && restore) await fastest.record(restore, snap!.m.result?.keys);
    // an etcd key/value archive also restores into a live etcd: slower, so it runs once
    if (restoreHere && source.backing === "etcd kv" && !restore?.m.error) {
      await liveEtcdRestore(bench, dataset, store, key, dir, ctx, snap!.m.result?.keys);
    }
  } finally {
    fastest?.close();
    await store.remove(key, dir).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A restore that alternates with its snapshot: its step, what to note afterwards, its cleanup. */
interface FloorRestore {
  readonly step: Step;
  record(restore: Repeated, expectedKeys: number | undefined): Promise<void>;
  close(): void;
}

function noteKeyCount(bench: Bench, what: string, written: number | undefined, expected: number | undefined) {
  if (written !== undefined && written !== expected) {
    bench.skipped.push(`note: ${what} wrote ${written} keys, the snapshot held ${expected}`);
  }
}

/** The SQLite archive restored into a new kine database. */
function sqliteRestore(
  bench: Bench,
  dataset: Dataset,
  store: BenchStore,
  key: string,
  dir: string,
): FloorRestore {
  const restoreDir = bench.runDir(`restore-sqlite-${store.name}`);
  const targetDir = path.join(restoreDir, "target");
  const what = `${dataset.label}: vsnap restore sqlite ← ${store.name}`;
  const job: Job = {
    op: "restore",
    target: { kind: "sqlite", file: path.join(targetDir, "kine.db") },
    store: store.spec(key, dir),
  };
  return {
    step: {
      what,
      once: () =>
        measureJob(job, bench.runOptions(restoreDir, { outputDir: targetDir, expectedOutputs: ["kine.db"] })),
      between: async () => rmSync(targetDir, { recursive: true, force: true }),
    },
    async record(restore, expected) {
      bench.rows.push({
        size: dataset.label,
        backing: "sqlite",
        store: store.name,
        tool: "vsnap",
        op: "restore",
        ...restore,
      });
      if (!restore.m.error) noteKeyCount(bench, what, restore.m.result?.keys, expected);
    },
    close: () => rmSync(restoreDir, { recursive: true, force: true }),
  };
}

/**
 * An etcd archive restored into a new etcd data dir (the embedded-etcd restore: key/value archives
 * are built into a db, db archives staged; etcd's own tool makes the data dir). Afterwards etcd is
 * started on the last one, to note how long it took to serve and how many keys it served.
 */
function dataDirRestore(
  bench: Bench,
  dataset: Dataset,
  backing: Backing,
  store: BenchStore,
  key: string,
  dir: string,
): FloorRestore {
  const restoreDir = bench.runDir(`restore-${backing.replace(" ", "-")}-data-dir-${store.name}`);
  const targetDir = path.join(restoreDir, "target");
  const dataDir = path.join(targetDir, "data");
  let peerPort: number | undefined;
  return {
    step: {
      what: `${dataset.label}: vsnap restore ${backing} ← ${store.name} into an etcd data dir`,
      async once() {
        mkdirSync(targetDir, { recursive: true });
        peerPort ??= await freePort();
        const job: Job = {
          op: "restore",
          target: { kind: "etcd-data-dir", dataDir, peerPort },
          store: store.spec(key, dir),
        };
        return measureJob(
          job,
          bench.runOptions(restoreDir, { outputDir: targetDir, expectedOutputs: ["data/"] }),
        );
      },
      between: async () => rmSync(dataDir, { recursive: true, force: true }),
    },
    async record(restore, expected) {
      bench.rows.push({
        size: dataset.label,
        backing,
        store: store.name,
        tool: DATA_DIR_TOOL,
        op: "restore",
        ...restore,
      });
      if (restore.m.error || peerPort === undefined) return;
      const t0 = performance.now();
      const etcd = await startEtcd({ dataDir, peerPort });
      try {
        const ready = performance.now() - t0;
        const { etcdSource } = await import("@vsnap/backing-etcd");
        const point = await etcdSource({ endpoints: etcd.endpoint }).open();
        const served = point.totals.keys;
        await point.close();
        bench.skipped.push(
          `note: ${dataset.label} ${backing} restored into an etcd data dir: etcd started on it in ${(ready / 1000).toFixed(1)} s and served ${served} keys${expected && served !== expected ? ` (the snapshot held ${expected})` : ""}`,
        );
      } finally {
        await etcd.close();
      }
    },
    close: () => rmSync(restoreDir, { recursive: true, force: true }),
  };
}

/** An etcd key/value archive restored into a live, empty etcd (written, read back, compacted). */
async function liveEtcdRestore(
  bench: Bench,
  dataset: Dataset,
  store: BenchStore,
  key: string,
  dir: string,
  ctx: SizeContext,
  expected: number | undefined,
): Promise<void> {
  const restoreDir = bench.runDir(`restore-etcd-kv-${store.name}`);
  const what = `${dataset.label}: vsnap restore etcd kv ← ${store.name}`;
  let target: EtcdServerLike | undefined;
  try {
    target = await ctx.startEtcd!();
    const job: Job = {
      op: "restore",
      target: { kind: "etcd", endpoint: target.endpoint },
      store: store.spec(key, dir),
    };
    const restore = await bench.repeat(what, () =>
      tracked(target, () => measureJob(job, bench.runOptions(restoreDir))),
    );
    bench.rows.push({
      size: dataset.label,
      backing: "etcd kv",
      store: store.name,
      tool: "vsnap",
      op: "restore",
      ...restore,
    });
    if (!restore.m.error) noteKeyCount(bench, what, restore.m.result?.keys, expected);
  } finally {
    await target?.close();
    rmSync(restoreDir, { recursive: true, force: true });
  }
}

async function headline(
  bench: Bench,
  dataset: Dataset,
  backing: Backing,
  sources: readonly { backing: Backing; spec: SourceSpec; server?: EtcdServerLike }[],
  baseline: BaselineSource,
  stores: readonly BenchStore[],
): Promise<void> {
  const container = stores.find((s) => s.name === "container");
  const source = sources.find((s) => s.backing === backing);
  const baseName = baseline.kind === "etcd" ? BASELINE_NAMES.etcd : BASELINE_NAMES.sqlite;
  const vsnapRow = bench.rows.findIndex(
    (r) =>
      r.size === dataset.label &&
      r.backing === backing &&
      r.store === "container" &&
      r.tool === "vsnap" &&
      r.op === "snapshot",
  );
  const baseRow = bench.rows.findIndex(
    (r) => r.size === dataset.label && r.tool === baseName && r.store === "file",
  );
  if (!container || !source || vsnapRow < 0 || baseRow < 0) return;
  // every run counts: the row's own (three for the floors) and the two alternating ones below
  const runs: { vsnap: Measurement[]; base: Measurement[] } = {
    vsnap: [...(bench.runsOf.get(bench.rows[vsnapRow]!) ?? [bench.rows[vsnapRow]!.m])],
    base: [bench.rows[baseRow]!.m],
  };
  for (let i = 0; i < 2; i++) {
    const dir = bench.runDir("headline");
    const key = "headline.tar.gz";
    const out = container.outputDir(dir)!;
    const v = await bench.measured(() =>
      tracked(source.server, () =>
        measureJob(
          { op: "snapshot", source: source.spec, store: container.spec(key, dir) },
          bench.runOptions(dir, { outputDir: out, expectedOutputs: [key] }),
        ),
      ),
    );
    log(`${dataset.label}: again, vsnap ${backing} → container: ${(v.wallMs / 1000).toFixed(2)} s`);
    rmSync(dir, { recursive: true, force: true });
    const bdir = bench.runDir("headline-base");
    const bout = path.join(bdir, "out");
    const b = await bench.measured(() =>
      tracked(source.server, () =>
        measureSteps(
          dumpAndGzip(baseline, path.join(bout, "dump.db.gz")),
          bench.runOptions(bdir, { outputDir: bout, expectedOutputs: ["dump.db.gz"] }),
        ),
      ),
    );
    log(`${dataset.label}: again, ${baseName}: ${(b.wallMs / 1000).toFixed(2)} s`);
    rmSync(bdir, { recursive: true, force: true });
    if (!v.error) runs.vsnap.push(v);
    if (!b.error) runs.base.push(b);
  }
  const pick = (ms: Measurement[]) => {
    const { m, walls } = medianRun(ms);
    return { m, walls };
  };
  bench.rows[vsnapRow] = { ...bench.rows[vsnapRow]!, ...pick(runs.vsnap) };
  bench.rows[baseRow] = { ...bench.rows[baseRow]!, ...pick(runs.base) };
}

/** Level 1/3/6 × member size, and single-threaded, on the first source into container://. */
async function compressionMatrix(
  bench: Bench,
  dataset: Dataset,
  source: { backing: Backing; spec: SourceSpec },
  store: BenchStore,
): Promise<void> {
  const K = 1024;
  const combos: CompressionSpec[] = [];
  if (bench.options.quick) {
    combos.push({ level: 2, mode: "parallel", blockSize: 1024 * K }, { level: 2, mode: "single" });
  } else {
    for (const level of [1, 2, 3, 6])
      for (const blockSize of [256 * K, 1024 * K, 4096 * K])
        combos.push({ level, mode: "parallel", blockSize });
    combos.push({ level: 1, mode: "single" }, { level: 2, mode: "single" }, { level: 3, mode: "single" });
  }
  const rows: MatrixRow[] = [];
  const tarFile = path.join(bench.work, "sample.tar");
  for (const compression of combos) {
    const dir = bench.runDir("matrix");
    const key = "matrix.tar.gz";
    const out = store.outputDir(dir)!;
    const { m } = await bench.repeat(
      `${dataset.label}: matrix level ${compression.level} ${compression.mode} ${compression.blockSize ?? ""}`,
      () =>
        measureJob(
          { op: "snapshot", source: source.spec, store: store.spec(key, dir), compression },
          bench.runOptions(dir, { outputDir: out, expectedOutputs: [key] }),
        ),
      () => store.remove(key, dir).catch(() => {}),
    );
    rows.push({
      level: compression.level!,
      mode: compression.mode!,
      blockSize: compression.blockSize ?? 0,
      m,
    });
    if (bench.options.designs && !m.error && !existsSync(tarFile))
      execFileSync("bash", ["-c", `gzip -dc ${q(path.join(out, key))} > ${q(tarFile)}`]);
    rmSync(dir, { recursive: true, force: true });
  }
  bench.matrix = { size: dataset.label, backing: source.backing, rows };
  if (existsSync(tarFile)) {
    await compressorDesigns(bench, dataset, tarFile);
    rmSync(tarFile, { force: true });
  }
}

/** backing-etcd's range page limits, on the key/value read alone: what they cost in memory and time. */
async function etcdPages(bench: Bench, dataset: Dataset, endpoint: string): Promise<void> {
  const K = 1024;
  const rows: PageRow[] = [];
  // undefined: backing-etcd's defaults
  const combos: [number | undefined, number | undefined][] = [
    [undefined, undefined],
    [16384 * K, 10_000],
    [4096 * K, 10_000],
    [2048 * K, 10_000],
    [1024 * K, 10_000],
    [1024 * K, 2_000],
  ];
  for (const [pageBytes, pageSize] of combos) {
    const dir = bench.runDir("pages");
    const label = pageBytes === undefined ? "defaults" : `${pageBytes / K} KiB / ${pageSize} keys`;
    const { m } = await bench.repeat(`${dataset.label}: etcd read, pages of ${label}`, () =>
      measureJob(
        {
          op: "read",
          source: {
            kind: "etcd",
            endpoint,
            mode: "kv",
            ...(pageBytes === undefined ? {} : { pageBytes }),
            ...(pageSize === undefined ? {} : { pageSize }),
          },
        },
        bench.runOptions(dir),
      ),
    );
    rows.push({
      ...(pageBytes === undefined ? {} : { pageBytes }),
      ...(pageSize === undefined ? {} : { pageSize }),
      m,
    });
    rmSync(dir, { recursive: true, force: true });
  }
  bench.pages = { size: dataset.label, rows };
}

/** The compressor alone, three designs, on the tar bytes of the matrix's dataset. */
async function compressorDesigns(bench: Bench, dataset: Dataset, tarFile: string): Promise<void> {
  const rows: DesignRow[] = [];
  const combos: { design: CompressorDesign; level: number; blockSize: number }[] = [];
  for (const level of [1, 2, 3]) {
    for (const design of COMPRESSOR_DESIGNS) combos.push({ design, level, blockSize: 1024 * 1024 });
  }
  for (const c of combos) {
    const dir = bench.runDir("design");
    const { m } = await bench.repeat(`${dataset.label}: compressor ${c.design} level ${c.level}`, () =>
      measureJob({ op: "compress", file: tarFile, ...c }, bench.runOptions(dir)),
    );
    rows.push({ ...c, m });
    rmSync(dir, { recursive: true, force: true });
  }
  bench.designs = { size: dataset.label, tarBytes: statSync(tarFile).size, rows };
}

async function profileRun(
  bench: Bench,
  dataset: Dataset,
  source: SourceSpec,
  store: BenchStore,
): Promise<void> {
  const dir = bench.runDir("profile");
  const profDir = path.join(dir, "cpuprofile");
  const key = "profile.tar.gz";
  const out = store.outputDir(dir);
  log(`${dataset.label}: CPU profile of the etcd key/value snapshot`);
  const m = await measureJob(
    { op: "snapshot", source, store: store.spec(key, dir) },
    bench.runOptions(dir, {
      ...(out ? { outputDir: out } : {}),
      nodeArgs: ["--cpu-prof", "--cpu-prof-dir", profDir],
    }),
  );
  if (m.error) bench.skipped.push(`profile: ${m.error}`);
  else {
    bench.profile = {
      size: dataset.label,
      label: "the etcd key/value snapshot → container://",
      wallMs: m.wallMs,
      threads: summarizeProfileDir(profDir),
    };
    if (bench.options.keep) log(`profiles kept in ${profDir}`);
  }
  await store.remove(key, dir).catch(() => {});
  if (!bench.options.keep) rmSync(dir, { recursive: true, force: true });
}

function interopChecks(file: string, keys: number): InteropCheck[] {
  const run = (command: string): { ok: boolean; out: string } => {
    try {
      return {
        ok: true,
        out: execFileSync("bash", ["-o", "pipefail", "-c", command], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"],
        }).trim(),
      };
    } catch (error) {
      return {
        ok: false,
        out: String((error as { stderr?: string }).stderr ?? (error as Error).message)
          .trim()
          .split("\n")
          .slice(-2)
          .join(" "),
      };
    }
  };
  const checks: InteropCheck[] = [];
  const gz = run(`gzip -t ${q(file)}`);
  checks.push({
    reader: "GNU gzip (`gzip -t`)",
    ok: gz.ok,
    detail: gz.ok ? "valid multi-member gzip" : gz.out,
  });
  const tar = run(`tar -tzf ${q(file)} | wc -l`);
  checks.push({
    reader: "GNU tar (`tar -tzf`)",
    ok: tar.ok && Number(tar.out) > keys,
    detail: tar.ok ? `${tar.out} entries listed (${keys} keys + metadata)` : tar.out,
  });
  const py = run(
    `python3 -c 'import sys, tarfile; print(sum(1 for _ in tarfile.open(sys.argv[1], "r:gz")))' ${q(file)}`,
  );
  checks.push({
    reader: "Python tarfile (`r:gz`)",
    ok: py.ok && Number(py.out) > keys,
    detail: py.ok ? `${py.out} entries read` : py.out,
  });
  if (hasCommand("go")) {
    checks.push({ reader: "Go", ok: false, detail: "Go is installed but this check is not implemented" });
  }
  return checks;
}

function hasCommand(command: string): boolean {
  try {
    execFileSync("bash", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function fileBytes(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function etcdDbSize(endpoint: string): number | undefined {
  try {
    const out = execFileSync("etcdctl", [`--endpoints=${endpoint}`, "endpoint", "status", "-w", "json"], {
      encoding: "utf8",
    });
    const parsed = JSON.parse(out) as { Status: { dbSize: number } }[];
    return parsed[0]?.Status.dbSize;
  } catch {
    return undefined;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
