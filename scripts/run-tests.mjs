#!/usr/bin/env node
// `pnpm test`: builds, runs every package's vitest suite through turbo, then adds up the JSON
// reports each suite writes (vitest.shared.js) into one plain line, "N passed, N failed", which
// is what CI reads. Exits non-zero when any test failed or any suite did not report.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const reports = path.join(root, ".reports", "vitest");
rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });

const filters = process.argv.slice(2);
const turbo = spawnSync(
  "pnpm",
  [
    "exec",
    "turbo",
    "run",
    "test",
    "--continue",
    "--concurrency=2",
    "--output-logs=new-only",
    ...filters.map((f) => `--filter=${f}`),
  ],
  { cwd: root, stdio: "inherit" },
);

let passed = 0;
let failed = 0;
let skipped = 0;
const broken = [];
const failures = [];
for (const file of existsSync(reports) ? readdirSync(reports).sort() : []) {
  try {
    const report = JSON.parse(readFileSync(path.join(reports, file), "utf8"));
    passed += report.numPassedTests ?? 0;
    failed += report.numFailedTests ?? 0;
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    // a suite that failed to load counts its file as a failure, not as zero tests
    for (const suite of report.testResults ?? []) {
      const where = path.relative(root, suite.name ?? file);
      if (suite.status === "failed" && (suite.assertionResults ?? []).length === 0) {
        failed += 1;
        failures.push({ name: `${where} (did not load)`, message: suite.message ?? "" });
      }
      for (const test of suite.assertionResults ?? []) {
        if (test.status === "failed") {
          failures.push({
            name: `${where} > ${test.fullName}`,
            message: (test.failureMessages ?? []).join("\n"),
          });
        }
      }
    }
  } catch (error) {
    broken.push(`${file}: ${error.message}`);
  }
}
for (const problem of broken) console.error(`unreadable test report ${problem}`);
// repeated here, just above the summary line, because turbo interleaves the suites' logs
for (const { name, message } of failures) {
  const lines = message.split("\n").filter((line) => !line.includes("/node_modules/"));
  console.log(`\nFAILED ${name}\n${lines.slice(0, 12).join("\n")}`);
}
if (turbo.status !== 0 && failed === 0) failed += 1; // a package failed before reporting (build error)
if (skipped) console.log(`\n${skipped} skipped (tests that need a tool this machine lacks)`);
// the last line, exactly as CI reads it
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed > 0 || broken.length > 0 || turbo.status !== 0 ? 1 : 0);
