// The suite tested by running it: against a correct in-memory store everything must pass, and
// each deliberately broken variant must fail exactly the tests that guard against its bug.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { FAULTS, type Fault } from "./fixtures/memory-store.js";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
const vitestBin = path.join(
  path.dirname(createRequire(import.meta.url).resolve("vitest/package.json")),
  "vitest.mjs",
);

interface JsonReport {
  testResults: Array<{
    assertionResults: Array<{ ancestorTitles: string[]; title: string; status: string }>;
  }>;
}

/** Runs fixtures/memory.suite.ts (one suite per fault) in a child vitest: fault -> title -> status. */
async function runSuites(): Promise<Map<string, Map<string, string>>> {
  const reports = await mkdtemp(path.join(tmpdir(), "vsnap-testkit-meta-"));
  try {
    const outputFile = path.join(reports, "report.json");
    const args = [vitestBin, "run", "--config", path.join(fixtures, "vitest.config.ts")];
    await new Promise<void>((resolve) => {
      execFile(
        process.execPath,
        [...args, "--reporter=json", `--outputFile=${outputFile}`],
        { cwd: fixtures, maxBuffer: 64 * 1024 * 1024 },
        // vitest exits non-zero when tests fail, which is the point for the broken variants
        () => resolve(),
      );
    });
    const report = JSON.parse(await readFile(outputFile, "utf8")) as JsonReport;
    const byFault = new Map<string, Map<string, string>>();
    for (const test of report.testResults.flatMap((file) => file.assertionResults)) {
      const fault = /^store conformance: memory\/(.+)$/.exec(test.ancestorTitles[0] ?? "")?.[1] ?? "?";
      if (!byFault.has(fault)) byFault.set(fault, new Map());
      byFault.get(fault)?.set(test.title, test.status);
    }
    return byFault;
  } finally {
    await rm(reports, { recursive: true, force: true });
  }
}

const notPassed = (results: Map<string, string> | undefined) =>
  [...(results ?? [])]
    .filter(([, status]) => status !== "passed")
    .map(([title]) => title)
    .sort();

const T = {
  overwriteVisible: "readers see the previous object until an overwrite completes",
  abortedNew: "a put aborted mid-stream rejects ABORTED and leaves nothing readable or listable",
  abortedOld: "a put aborted mid-stream keeps the previous object intact",
  stalled: "a put aborted while its body stalls rejects promptly and keeps the previous object",
  throwing: "a body that throws rejects the put, keeps the previous object and leaves nothing listable",
  preAborted: "an already-aborted signal rejects every operation with ABORTED and changes nothing",
  readAbort: "get honours an abort while the body is read",
  secrets: "no secret appears in the location, object URLs, logs or errors",
  progress: "progress is monotone, ends at the total, and stops when put resolves",
  listPrefix: "lists exactly the objects put, filtered by prefix, with correct sizes",
  getMissing: "get of a missing key rejects NOT_FOUND",
  deleted: "removes only the named object, and again is a no-op",
};

const expectations: Array<[Exclude<Fault, "none">, string[]]> = [
  ["in-place", [T.overwriteVisible, T.abortedNew, T.abortedOld, T.stalled, T.throwing]],
  ["ignore-abort", [T.abortedNew, T.abortedOld, T.stalled, T.preAborted, T.readAbort, T.secrets]],
  ["leak-secret", [T.secrets]],
  ["log-secret", [T.secrets]],
  ["no-progress", [T.progress]],
  ["list-ignores-prefix", [T.listPrefix]],
  ["missing-as-internal", [T.getMissing, T.abortedNew, T.deleted]],
];

describe("the conformance suite, run against an in-memory store", () => {
  let results: Map<string, Map<string, string>>;
  beforeAll(async () => {
    results = await runSuites();
  }, 300_000);

  it("ran one suite per variant, each with every test", () => {
    expect([...results.keys()].sort()).toEqual([...FAULTS].sort());
    const counts = new Set([...results.values()].map((tests) => tests.size));
    expect(counts.size, "every variant ran the same tests").toBe(1);
    expect([...counts][0]).toBeGreaterThanOrEqual(20);
  });

  it("passes every test for a correct store, skipping none", () => {
    expect(notPassed(results.get("none"))).toEqual([]);
  });

  it.each(expectations)("catches the %s bug in exactly the tests that guard against it", (fault, titles) => {
    const tests = results.get(fault);
    for (const title of titles) expect(tests?.has(title), `a test named "${title}"`).toBe(true);
    expect(notPassed(tests)).toEqual([...titles].sort());
  });
});
