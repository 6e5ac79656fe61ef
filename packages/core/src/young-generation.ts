import { availableParallelism } from "node:os";

/**
 * V8 grows its young generation to 32 MiB semi-spaces under a snapshot's allocation rate, although
 * almost nothing there lives long: the heap reached 141 MiB for 30 MiB used (1M-key etcd snapshot),
 * and 73 MiB for a SQLite restore. Semi-spaces of 8 MiB took 30–60 MiB off the peak RSS at no
 * measured cost in speed, and 4 MiB another 8–16 MiB at 1M keys, again at no cost: nearly nothing
 * survives a scavenge (docs/benchmarks.md). The limit is fixed when V8 starts, so an executable
 * calls `boundYoungGeneration()` first and is re-executed once, in place, with the flag.
 */
export const YOUNG_GENERATION_FLAG = "--max-semi-space-size=4";

/**
 * V8's old generation, for a process whose objects almost all die young:
 * - no allocation-site pretenuring: a collection that happened to fall inside a burst of short-lived
 *   objects (a page of SQLite rows) got their allocation site pretenured, and from then on every
 *   such object went straight to the old generation, 29 MiB of them in a 100k-key snapshot;
 * - the old generation may grow to twice its live size between full collections, not up to four
 *   times: with the S3 client's 14 MiB of live objects, V8 let 45 MiB of garbage pile up.
 * Together: 1M-key SQLite → s3:// peaked at 134 MiB instead of 166, for ~3 % more CPU on other
 * rows (docs/benchmarks.md).
 */
export const OLD_GENERATION_FLAGS = [
  "--no-allocation-site-pretenuring",
  "--heap-growing-percent=100",
] as const;

/**
 * Below this size glibc's malloc serves allocations from its heap; above it, from their own
 * mappings, returned to the system when freed. glibc raises the threshold as large blocks are
 * freed (up to 32 MiB), after which the MiB-sized buffers a snapshot cycles through (pages, tar
 * blocks, deflate output, upload parts) fragment the heap: fixing it took 10–30 MiB off the peak
 * RSS of 1M-key snapshots, for a few % more CPU (docs/benchmarks.md).
 */
export const MMAP_THRESHOLD = 256 * 1024;

/**
 * The environment the re-executed process gets, with what only takes effect at start and was not
 * set already: a libuv thread pool large enough to deflate on every core
 * (archive/deflate-threads.ts), and glibc's fixed mmap threshold (ignored by other C libraries).
 */
export function tunedEnv(env: NodeJS.ProcessEnv, cores = availableParallelism()): NodeJS.ProcessEnv {
  const tuned = { ...env };
  tuned.UV_THREADPOOL_SIZE ??= String(Math.max(4, cores + 2));
  if (!env.GLIBC_TUNABLES?.includes("malloc.mmap_threshold")) {
    tuned.MALLOC_MMAP_THRESHOLD_ ??= String(MMAP_THRESHOLD);
  }
  return tuned;
}

const FLAG_NAME = YOUNG_GENERATION_FLAG.slice(0, YOUNG_GENERATION_FLAG.indexOf("="));

/** Whether this process already runs with a semi-space limit: ours, or one its user chose. */
export function youngGenerationBounded(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): boolean {
  const given = [...execArgv, ...(nodeOptions ?? "").split(/\s+/)];
  return given.some((arg) => arg === FLAG_NAME || arg.startsWith(`${FLAG_NAME}=`));
}

/**
 * Replaces this process (same pid, stdio, arguments and environment) with one whose V8 runs with
 * YOUNG_GENERATION_FLAG and OLD_GENERATION_FLAGS and whose environment is `tunedEnv`'s, unless a limit is already set or node was started for a debugger. Where
 * `process.execve` is missing (Windows, Node < 22.15) or fails, the process goes on as it is: only
 * its memory use differs. Call it before importing anything heavy: everything loaded before the
 * exec is loaded twice.
 */
export function boundYoungGeneration(): void {
  // under a debugger the first process would stop too (--inspect-brk) and the port be taken twice
  if (youngGenerationBounded() || process.execArgv.some((arg) => arg.startsWith("--inspect"))) return;
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never })
    .execve;
  if (typeof execve !== "function") return;
  try {
    execve.call(
      process,
      process.execPath,
      [
        process.execPath,
        ...process.execArgv,
        YOUNG_GENERATION_FLAG,
        ...OLD_GENERATION_FLAGS,
        ...process.argv.slice(1),
      ],
      tunedEnv(process.env),
    );
  } catch {
    // exec refused (e.g. a seccomp profile): run on with V8's defaults
  }
}
