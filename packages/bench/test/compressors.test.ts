import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { COMPRESSOR_DESIGNS, compressFile, compressMembers } from "../src/compressors.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-bench-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Half random, half repetitive: compressible, and not a multiple of the block size.
const input = Buffer.concat([randomBytes(700_000), Buffer.alloc(600_001, "kubernetes ")]);
const file = path.join(dir, "input.tar");
writeFileSync(file, input);
const BLOCK = 256 * 1024;

describe.each(COMPRESSOR_DESIGNS)("compressor design %s", (design) => {
  it("writes gzip that decompresses to the input (concatenated members for the parallel designs)", async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of compressMembers(file, design, 3, BLOCK)) chunks.push(chunk);
    const gzip = Buffer.concat(chunks);
    if (design !== "single-stream") expect(chunks.length).toBe(Math.ceil(input.length / BLOCK));
    expect(gunzipSync(gzip).equals(input)).toBe(true);
  });

  it("reports the sizes it read and wrote", async () => {
    const run = await compressFile(file, design, 1, BLOCK);
    expect(run.inputBytes).toBe(input.length);
    expect(run.outputBytes).toBeGreaterThan(700_000);
    expect(run.outputBytes).toBeLessThan(input.length);
  });
});
