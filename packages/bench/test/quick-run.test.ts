import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

/**
 * CI's smoke run of `pnpm bench --quick`: it must run end to end on a fresh machine and report
 * every measurement it attempted. Its speed is the benchmark's business, never a test's.
 */
const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const work = mkdtempSync(path.join(os.tmpdir(), "vsnap-bench-smoke-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

interface Results {
  readonly rows: {
    size: string;
    backing: string;
    store: string;
    tool: string;
    op: string;
    m: { error?: string };
  }[];
  readonly datasets: { keys: number }[];
}

describe("pnpm bench --quick", () => {
  it("runs end to end and reports every snapshot and restore it measured, none failed", () => {
    const out = path.join(work, "report.md");
    const run = spawnSync(
      process.execPath,
      [main, "--quick", "--no-profile", "--out", out, "--work-dir", work],
      {
        encoding: "utf8",
        timeout: 600_000,
      },
    );
    expect(run.status, `${run.stdout}\n${run.stderr}`.slice(-3000)).toBe(0);
    const report = readFileSync(out, "utf8");
    expect(report).toContain("## The floors");
    expect(report).toContain("## Ratios: vsnap against the pipelines users script");

    const results = JSON.parse(readFileSync(out.replace(/\.md$/, ".json"), "utf8")) as Results;
    expect(results.datasets[0]?.keys).toBe(20_000);
    const failed = results.rows
      .filter((r) => r.m.error)
      .map((r) => `${r.backing} ${r.store} ${r.op}: ${r.m.error}`);
    expect(failed).toEqual([]);
    const measured = new Set(results.rows.map((r) => `${r.backing}|${r.store}|${r.tool}|${r.op}`));
    const expected = ["sqlite|container|vsnap|snapshot", "sqlite|container|vsnap|restore"];
    if (has("etcd") && has("etcdctl"))
      expected.push(
        "etcd kv|container|vsnap|snapshot",
        "etcd kv|container|vsnap|restore",
        "etcd db|container|vsnap|snapshot",
      );
    if (has("radosgw")) expected.push("sqlite|s3|vsnap|snapshot");
    if (has("docker-registry")) expected.push("sqlite|oci|vsnap|snapshot");
    for (const row of expected) expect(measured, row).toContain(row);
  }, 660_000);
});
