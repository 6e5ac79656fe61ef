import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { measureSteps } from "../src/measure.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-bench-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("measureSteps", () => {
  it("sees a temp file that lives only during the run, and the output", async () => {
    const out = path.join(dir, "out");
    const m = await measureSteps(
      [
        'head -c 3000000 /dev/zero > "$TMPDIR/stage.bin"; sleep 0.3',
        `gzip -1 -c "$TMPDIR/stage.bin" > '${out}/result.gz' && rm "$TMPDIR/stage.bin"`,
      ],
      { scratch: path.join(dir, "s1"), outputDir: out, expectedOutputs: ["result.gz"], timeoutMs: 30_000 },
    );
    expect(m.error).toBeUndefined();
    expect(m.tempBytes).toBe(3_000_000);
    expect(m.transient).toContain("$TMPDIR/stage.bin");
    expect(m.leftovers).toEqual([]);
    expect(m.outputBytes).toBeGreaterThan(0);
    expect(m.stepMs).toHaveLength(2);
    expect(m.wallMs).toBeGreaterThanOrEqual(300);
  });

  it("reports files left behind and a failing step", async () => {
    const out = path.join(dir, "out2");
    const m = await measureSteps(
      [`echo x > '${out}/stray'; echo y > "$TMPDIR/left"`, "exit 3", "echo never"],
      {
        scratch: path.join(dir, "s2"),
        outputDir: out,
        expectedOutputs: [],
        timeoutMs: 30_000,
      },
    );
    expect(m.error).toMatch(/exit 3/);
    expect(m.stepMs).toHaveLength(2);
    expect([...m.leftovers].sort()).toEqual(["$TMPDIR/left", "stray"]);
  });

  it("stops a step that runs past the timeout", async () => {
    const m = await measureSteps(["sleep 20"], { scratch: path.join(dir, "s3"), timeoutMs: 500 });
    expect(m.error).toMatch(/killed after 500 ms/);
    expect(m.wallMs).toBeLessThan(10_000);
  });
});
