import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DiskWatch, dirBytes, listFiles } from "./disk.js";
import type { Job, JobResult } from "./jobs.js";

const DRIVER = path.join(path.dirname(fileURLToPath(import.meta.url)), "driver.js");
const GNU_TIME = "/usr/bin/time";

export interface Measurement {
  /** Spawn to exit, as a user waits for it (process start and module loading included). */
  readonly wallMs: number;
  /** Peak resident set of the process (the largest one, for a pipeline of several). */
  readonly peakRssBytes: number | undefined;
  /** User + system CPU time of every process involved. */
  readonly cpuMs: number | undefined;
  /** Largest temp footprint seen in the process's TMPDIR and working dir (archive staging would show here). */
  readonly tempBytes: number;
  /** What the output dir held at its fullest beyond its final content (a temp name before a rename, a SQLite journal). */
  readonly besideBytes: number;
  /** Names of files that existed only during the run (in TMPDIR, the working dir or the output dir). */
  readonly transient: readonly string[];
  /** Size of the output dir at the end (the archive, a restored db). */
  readonly outputBytes: number;
  /** Files left in TMPDIR or the working dir, or beside the expected output. */
  readonly leftovers: readonly string[];
  readonly error?: string;
  readonly result?: JobResult;
  /** CPU time the etcd server spent meanwhile (etcd source or target). */
  readonly serverCpuMs?: number;
  /** Wall time of each step of a scripted pipeline. */
  readonly stepMs?: readonly number[];
  /** The machine-speed probe's time just before the run (bench/src/machine-speed.ts). */
  readonly probeMs?: number;
}

export interface RunOptions {
  /** A fresh directory for this run's TMPDIR and working dir (created, then removed). */
  readonly scratch: string;
  /** The directory the output lands in (a container store's folder, a restored db's folder): watched for temp files. */
  readonly outputDir?: string;
  /**
   * Files expected in `outputDir` at the end (a name ending in `/`: everything under that folder);
   * anything else there is reported as a leftover.
   */
  readonly expectedOutputs?: readonly string[];
  readonly timeoutMs: number;
  /** Extra `node` flags (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

function expected(outputs: readonly string[], file: string): boolean {
  return outputs.some((o) => (o.endsWith("/") ? file.startsWith(o) : file === o));
}

interface Sandbox {
  readonly tmp: string;
  readonly cwd: string;
  readonly watch: DiskWatch;
}

function openSandbox(options: RunOptions): Sandbox {
  const tmp = path.join(options.scratch, "tmp");
  const cwd = path.join(options.scratch, "cwd");
  mkdirSync(tmp, { recursive: true });
  mkdirSync(cwd, { recursive: true });
  if (options.outputDir) mkdirSync(options.outputDir, { recursive: true });
  return { tmp, cwd, watch: new DiskWatch([tmp, cwd, ...(options.outputDir ? [options.outputDir] : [])]) };
}

function closeSandbox(sandbox: Sandbox, options: RunOptions) {
  const [tmp, cwd, out] = sandbox.watch.stop();
  const outputBytes = options.outputDir ? dirBytes(options.outputDir) : 0;
  const finalOut = options.outputDir ? listFiles(options.outputDir) : [];
  const leftovers = [
    ...listFiles(sandbox.tmp).map((f) => `$TMPDIR/${f}`),
    ...listFiles(sandbox.cwd).map((f) => `./${f}`),
    ...(options.expectedOutputs ? finalOut.filter((f) => !expected(options.expectedOutputs!, f)) : []),
  ];
  const transient = [
    ...(tmp?.seen ?? []).map((f) => `$TMPDIR/${f}`),
    ...(cwd?.seen ?? []).map((f) => `./${f}`),
    ...(out?.seen ?? []).filter((f) => !finalOut.includes(f)),
  ].filter((f) => !leftovers.includes(f));
  rmSync(options.scratch, { recursive: true, force: true });
  return {
    tempBytes: (tmp?.peak ?? 0) + (cwd?.peak ?? 0),
    besideBytes: Math.max(0, (out?.peak ?? 0) - outputBytes),
    transient,
    outputBytes,
    leftovers,
  };
}

interface Exit {
  readonly wallMs: number;
  readonly code: number | null;
  readonly stderr: string;
}

function runProcess(
  command: string,
  args: readonly string[],
  sandbox: Sandbox,
  options: RunOptions,
): Promise<Exit> {
  const started = performance.now();
  const child = spawn(command, args, {
    cwd: sandbox.cwd,
    env: { ...process.env, ...options.env, TMPDIR: sandbox.tmp },
    stdio: ["ignore", "ignore", "pipe"],
    detached: true, // its own process group, so a timeout can stop the whole pipeline
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const timer = setTimeout(() => {
    stderr += `\n(killed after ${options.timeoutMs} ms)`;
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }, options.timeoutMs);
  return new Promise((resolve) => {
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ wallMs: performance.now() - started, code: -1, stderr: `${stderr}${error.message}` });
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ wallMs: performance.now() - started, code, stderr });
    });
  });
}

/** Runs one driver job in a fresh `node` process and measures it. */
/**
 * Writes back the page cache's dirty pages before a measurement starts, untimed: otherwise the
 * gigabytes an earlier step wrote (a generated store, an etcd load) are flushed during the next
 * one, and a restore writing its own gigabytes is throttled for them.
 */
function settleDisk(): void {
  try {
    execFileSync("sync", { stdio: "ignore", timeout: 120_000 });
  } catch {
    // no sync(1): measure as is
  }
}

export async function measureJob(job: Job, options: RunOptions): Promise<Measurement> {
  settleDisk();
  const sandbox = openSandbox(options);
  const jobFile = path.join(options.scratch, "job.json");
  const resultFile = path.join(options.scratch, "result.json");
  writeFileSync(jobFile, JSON.stringify(job));
  const exit = await runProcess(
    process.execPath,
    [...(options.nodeArgs ?? []), DRIVER, jobFile, resultFile],
    sandbox,
    options,
  );
  const result = existsSync(resultFile)
    ? (JSON.parse(readFileSync(resultFile, "utf8")) as JobResult)
    : undefined;
  rmSync(jobFile, { force: true });
  rmSync(resultFile, { force: true });
  const disk = closeSandbox(sandbox, options);
  const error =
    result?.error ?? (exit.code === 0 ? undefined : `exit ${exit.code}: ${lastLines(exit.stderr)}`);
  return {
    wallMs: exit.wallMs,
    peakRssBytes: result?.peakRssBytes,
    cpuMs: result ? result.cpuUserMs + result.cpuSystemMs : undefined,
    ...disk,
    ...(error === undefined ? {} : { error }),
    ...(result ? { result } : {}),
  };
}

/** A step of a scripted pipeline: one `bash -c` command line. */
export type Step = string;

export function hasGnuTime(): boolean {
  return existsSync(GNU_TIME);
}

/**
 * Runs shell steps one after another in one sandbox, as a user's script would, each under GNU time
 * for its peak RSS (the largest process of a pipe) and CPU time.
 */
export async function measureSteps(steps: readonly Step[], options: RunOptions): Promise<Measurement> {
  settleDisk();
  const sandbox = openSandbox(options);
  const timeFile = path.join(options.scratch, "time.txt");
  const useTime = hasGnuTime();
  let wallMs = 0;
  let peak: number | undefined = useTime ? 0 : undefined;
  let cpu: number | undefined = useTime ? 0 : undefined;
  let error: string | undefined;
  const stepMs: number[] = [];
  for (const step of steps) {
    const exit = useTime
      ? await runProcess(
          GNU_TIME,
          ["-f", "%M %U %S", "-o", timeFile, "bash", "-o", "pipefail", "-c", step],
          sandbox,
          options,
        )
      : await runProcess("bash", ["-o", "pipefail", "-c", step], sandbox, options);
    wallMs += exit.wallMs;
    stepMs.push(exit.wallMs);
    if (useTime && existsSync(timeFile)) {
      const fields = readFileSync(timeFile, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
      const [rssKiB = 0, user = 0, system = 0] = fields;
      peak = Math.max(peak ?? 0, rssKiB * 1024);
      cpu = (cpu ?? 0) + (user + system) * 1000;
      rmSync(timeFile, { force: true });
    }
    if (exit.code !== 0) {
      error = `\`${step}\` failed (exit ${exit.code}): ${lastLines(exit.stderr)}`;
      break;
    }
  }
  const disk = closeSandbox(sandbox, options);
  return {
    wallMs,
    peakRssBytes: peak,
    cpuMs: cpu,
    ...disk,
    stepMs,
    ...(error === undefined ? {} : { error }),
  };
}

function lastLines(text: string, n = 6): string {
  return text.trim().split("\n").slice(-n).join(" | ");
}
