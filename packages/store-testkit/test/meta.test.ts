// The suite tested by running it: against a correct in-memory store everything must pass, and
// each deliberately broken variant must fail exactly the tests that guard against its bug.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Fault } from "./fixtures/memory-store.js";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
const vitestBin = path.join(
  path.dirname(createRequire(import.meta.url).resolve("vitest/package.json")),
  "vitest.mjs",
);

interface JsonReport {
  testResults: Array<{ assertionResults: Array<{ title: string; status: string }> }>;
}

let reports: string;
beforeAll(async () => {
  reports = await mkdtemp(path.join(tmpdir(), "vsnap-testkit-meta-"));
});
afterAll(async () => {
  await rm(reports, { recursive: true, force: true });
});

/** Runs fixtures/memory.suite.ts in a child vitest with `fault` switched on; title -> status. */
async function runSuite(fault: Fault): Promise<Map<string, string>> {
  const outputFile = path.join(reports, `${fault}.json`);
  await new Promise<void>((resolve) => {
    execFile(
      process.execPath,
      [
        vitestBin,
        "run",
        "--config",
        path.join(fixtures, "vitest.config.ts"),
        "--reporter=json",
        `--outputFile=${outputFile}`,
      ],
      { cwd: fixtures, env: { ...process.env, VSNAP_TESTKIT_FAULT: fault }, maxBuffer: 64 * 1024 * 1024 },
      // vitest exits non-zero when tests fail, which is the point for most faults
      () => resolve(),
    );
  });
  const report = JSON.parse(await readFile(outputFile, "utf8")) as JsonReport;
  return new Map(report.testResults.flatMap((file) => file.assertionResults.map((t) => [t.title, t.status])));
}

const failed = (results: Map<string, string>) =>
  [...results]
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

const expectations: Array<[Fault, string[]]> = [
  ["in-place", [T.overwriteVisible, T.abortedNew, T.abortedOld, T.stalled, T.throwing]],
  ["ignore-abort", [T.abortedNew, T.abortedOld, T.stalled, T.preAborted, T.readAbort, T.secrets]],
  ["leak-secret", [T.secrets]],
  ["log-secret", [T.secrets]],
  ["no-progress", [T.progress]],
  ["list-ignores-prefix", [T.listPrefix]],
  ["missing-as-internal", [T.getMissing, T.abortedNew, T.deleted]],
];

describe("the conformance suite, run against an in-memory store", () => {
  it("passes every test for a correct store, skipping none", async () => {
    const results = await runSuite("none");
    expect(results.size).toBeGreaterThanOrEqual(20);
    expect(failed(results)).toEqual([]);
  }, 120_000);

  it.each(expectations)(
    "catches the %s bug in exactly the tests that guard against it",
    async (fault, titles) => {
      const results = await runSuite(fault);
      for (const title of titles) expect(results.has(title), `a test named "${title}"`).toBe(true);
      expect(failed(results)).toEqual([...titles].sort());
    },
    120_000,
  );
});
