// Shared by every package's vitest.config.ts: generous timeouts (tests talk to real servers) and a
// JSON report per package that scripts/run-tests.mjs adds up into CI's "N passed, N failed" line.
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(fileURLToPath(import.meta.url));

/** @param {string} name */
export function sharedTestConfig(name) {
  return {
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    passWithNoTests: false,
    reporters: ["default", "json"],
    outputFile: { json: path.join(root, ".reports", "vitest", `${name}.json`) },
  };
}
