import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  MMAP_THRESHOLD,
  OLD_GENERATION_FLAGS,
  tunedEnv,
  YOUNG_GENERATION_FLAG,
  youngGenerationBounded,
} from "../src/young-generation.js";

const MODULE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/young-generation.ts");
const dir = mkdtempSync(path.join(tmpdir(), "vsnap-young-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// An executable as vsnap's bins are: bound first, then the work. It reports what the process it
// ended up as was given, reads its stdin, and exits with a code of its own.
const SCRIPT = path.join(dir, "bin.mjs");
writeFileSync(
  SCRIPT,
  `process.stderr.write("started " + process.pid + "\\n");
const { boundYoungGeneration } = await import(${JSON.stringify(MODULE)});
boundYoungGeneration();
let input = "";
for await (const chunk of process.stdin) input += chunk;
const v8 = await import("node:v8");
// churn short-lived objects: the young generation grows to its limit
for (let i = 0; i < 3e6; i++) globalThis.sink = { i, s: "x" + i };
const newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
process.stdout.write(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(2), input, newSpace: newSpace.space_size, threadPool: process.env.UV_THREADPOOL_SIZE ?? null, mmapThreshold: process.env.MALLOC_MMAP_THRESHOLD_ ?? null }));
process.exitCode = 7;
`,
);

function run(env: NodeJS.ProcessEnv, nodeArgs: string[] = []) {
  const child = spawnSync(process.execPath, [...nodeArgs, SCRIPT, "a b", "--flag=1", "ünïcode"], {
    // (the runner's own UV_THREADPOOL_SIZE, if any, is not what the case is about)
    env: {
      ...process.env,
      NODE_OPTIONS: "",
      UV_THREADPOOL_SIZE: undefined,
      MALLOC_MMAP_THRESHOLD_: undefined,
      GLIBC_TUNABLES: undefined,
      ...env,
    },
    input: "from stdin",
    encoding: "utf8",
  });
  const started = /started (\d+)/g;
  return {
    status: child.status,
    report: JSON.parse(child.stdout) as {
      pid: number;
      execArgv: string[];
      args: string[];
      input: string;
      newSpace: number;
      threadPool: string | null;
      mmapThreshold: string | null;
    },
    starts: [...child.stderr.matchAll(started)].map((m) => Number(m[1])),
  };
}

describe("boundYoungGeneration", () => {
  it("re-executes once, in place, with the flag; arguments, stdin and exit code pass through", () => {
    const { status, report, starts } = run({});
    expect(report.execArgv.filter((a) => a === YOUNG_GENERATION_FLAG)).toHaveLength(1);
    expect(report.execArgv.slice(-OLD_GENERATION_FLAGS.length)).toEqual([...OLD_GENERATION_FLAGS]);
    // the same process, started twice: once as given, once with the flag
    expect(starts).toEqual([report.pid, report.pid]);
    expect(report.args).toEqual(["a b", "--flag=1", "ünïcode"]);
    expect(report.input).toBe("from stdin");
    expect(status).toBe(7);
    // the limit holds: two 4 MiB semi-spaces at most
    expect(report.newSpace).toBeLessThanOrEqual(8 * 1024 * 1024);
    // the thread pool can deflate on every core, and malloc's mmap threshold stays put
    expect(report.threadPool).toBe(String(Math.max(4, availableParallelism() + 2)));
    expect(report.mmapThreshold).toBe(String(MMAP_THRESHOLD));
  });

  it("keeps a thread pool size and malloc settings the user chose", () => {
    const chosen = run({ UV_THREADPOOL_SIZE: "7", MALLOC_MMAP_THRESHOLD_: "65536" }).report;
    expect(chosen.threadPool).toBe("7");
    expect(chosen.mmapThreshold).toBe("65536");
    expect(tunedEnv({}, 16)).toEqual({
      UV_THREADPOOL_SIZE: "18",
      MALLOC_MMAP_THRESHOLD_: String(MMAP_THRESHOLD),
    });
    expect(tunedEnv({}, 1).UV_THREADPOOL_SIZE).toBe("4");
    expect(tunedEnv({ GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=1048576" }, 2)).toEqual({
      GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=1048576",
      UV_THREADPOOL_SIZE: "4",
    });
  });

  it("keeps the node flags the process was started with", () => {
    const { report } = run({}, ["--stack-trace-limit=50"]);
    expect(report.execArgv).toEqual([
      "--stack-trace-limit=50",
      YOUNG_GENERATION_FLAG,
      ...OLD_GENERATION_FLAGS,
    ]);
  });

  it("leaves a limit the user chose alone, in NODE_OPTIONS or on the command line", () => {
    const viaEnv = run({ NODE_OPTIONS: "--max-semi-space-size=32" });
    expect(viaEnv.report.execArgv).toEqual([]);
    expect(viaEnv.starts).toHaveLength(1);
    // V8's default lets the young generation grow past our limit: the check above is not vacuous
    expect(viaEnv.report.newSpace).toBeGreaterThan(8 * 1024 * 1024);
    const viaArgs = run({}, ["--max-semi-space-size=4"]);
    expect(viaArgs.report.execArgv).toEqual(["--max-semi-space-size=4"]);
    expect(viaArgs.starts).toHaveLength(1);
  });

  it("does not re-execute a process started for a debugger", () => {
    const { report, starts } = run({}, ["--inspect=127.0.0.1:0"]);
    expect(report.execArgv).toEqual(["--inspect=127.0.0.1:0"]);
    expect(starts).toHaveLength(1);
  });
});

describe("youngGenerationBounded", () => {
  it("recognises the flag by name, not by prefix", () => {
    expect(youngGenerationBounded(["--max-semi-space-size=8"], undefined)).toBe(true);
    expect(youngGenerationBounded(["--max-semi-space-size", "8"], undefined)).toBe(true);
    expect(youngGenerationBounded([], "--inspect --max-semi-space-size=16")).toBe(true);
    expect(youngGenerationBounded(["--max-semi-space-size-x=8"], "")).toBe(false);
    expect(youngGenerationBounded(["--max-old-space-size=512"], "--trace-gc")).toBe(false);
  });
});
