import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// the built module, as `vsnap` runs it (the suite runs after the build)
const POOL = fileURLToPath(new URL("../dist/archive/deflate-pool.js", import.meta.url));

/** Runs a node process that gives `blocks` blocks to the shared pool, releases it, and ends. */
function exitTime(blocks: number): { ms: number; status: number | null; stderr: string } {
  const script = `
    const { acquirePool, releasePool } = await import(${JSON.stringify(POOL)});
    const pool = acquirePool();
    const results = await Promise.all(
      Array.from({ length: ${blocks} }, (_, i) => pool.compress(new Uint8Array(4096).fill(i), 3)),
    );
    if (results.some((r) => r.member.length < 18)) throw new Error("no gzip member");
    releasePool(pool);
  `;
  const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-pool-"));
  try {
    const file = path.join(dir, "run.mjs");
    writeFileSync(file, script);
    const started = Date.now();
    const child = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 20_000 });
    return { ms: Date.now() - started, status: child.status, stderr: child.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the deflate pool", () => {
  it("lets the process end once its work is done, even when some workers never got a block", () => {
    // the pool closes itself 5 s after its last user; an idle worker must not hold the process until then
    for (const blocks of [0, 1, 3]) {
      const { ms, status, stderr } = exitTime(blocks);
      expect(status, stderr).toBe(0);
      expect(ms, `${blocks} block(s)`).toBeLessThan(3000);
    }
  });
});
