import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crc32, deflateRawSync, gunzipSync, inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  DEFLATE_MEM_LEVEL,
  deflateConcurrency,
  GzipMembers,
  threadPoolSize,
} from "../src/archive/deflate-threads.js";
import { gzipHeader, gzipTrailer } from "../src/archive/gzip.js";

// the built module, as `vsnap` runs it (the suite runs after the build)
const MODULE = fileURLToPath(new URL("../dist/archive/deflate-threads.js", import.meta.url));

/** Runs a node process that deflates `blocks` blocks with the shared deflater and ends. */
function exitTime(blocks: number): { ms: number; status: number | null; stderr: string } {
  const script = `
    const { sharedGzipMembers } = await import(${JSON.stringify(MODULE)});
    const deflater = sharedGzipMembers();
    const results = await Promise.all(
      Array.from({ length: ${blocks} }, (_, i) => deflater.compress(new Uint8Array(4096).fill(i), 3)),
    );
    if (results.some((r) => r.member.length < 18)) throw new Error("no gzip member");
  `;
  const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-deflate-"));
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

/** Half random, half repetitive: deflate has work to do and something to gain. */
function block(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  bytes.set(randomBytes(size >> 1));
  for (let i = size >> 1; i < size; i++) bytes[i] = (i * seed) % 251;
  return bytes;
}

const PHRASE = new TextEncoder().encode(
  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n".repeat(40),
);

describe("gzip members on the thread pool", () => {
  it("writes independent gzip members, in order, as small as zlib's own deflate", async () => {
    const deflater = new GzipMembers(3);
    for (const level of [1, 3, 9]) {
      // different sizes finish in a different order than they were given; each block begins with
      // what the one before ended with, which a lane that kept its history would refer back to
      const blocks = Array.from({ length: 7 }, (_, i) => {
        const b = block(256 * 1024 - i * 30_000, i + 2);
        b.set(PHRASE, 0);
        b.set(PHRASE, b.length - PHRASE.length);
        return b;
      });
      const members = (await Promise.all(blocks.map((b) => deflater.compress(b, level)))).map(
        (m) => m.member,
      );
      members.forEach((member, i) => {
        const data = blocks[i]!;
        expect(member.subarray(0, 10).equals(gzipHeader(level))).toBe(true);
        expect(member.subarray(-8).equals(gzipTrailer(crc32(data), data.length))).toBe(true);
        // each member alone: no back-reference into the block before it (the lane's history)
        expect(gunzipSync(member).equals(data), `level ${level}, block ${i}`).toBe(true);
        expect(inflateRawSync(member.subarray(10, -8)).equals(data)).toBe(true);
        // the flush marker and the final block add a few bytes, nothing more
        const reference = deflateRawSync(data, { level, memLevel: DEFLATE_MEM_LEVEL }).length;
        expect(member.length - 18).toBeGreaterThan(reference - 64);
        expect(member.length - 18).toBeLessThan(reference + 64);
      });
      expect(gunzipSync(Buffer.concat(members)).equals(Buffer.concat(blocks))).toBe(true);
    }
  });

  it("hands back a block's memory only when the block was all of it", async () => {
    const deflater = new GzipMembers(2);
    const whole = block(4096, 3);
    const memory = new ArrayBuffer(8192);
    const part = new Uint8Array(memory, 4096, 4096);
    part.set(whole);
    expect((await deflater.compress(whole, 3)).input).toBe(whole.buffer);
    expect((await deflater.compress(part, 3)).input).toBeUndefined();
  });

  it("frees each zlib output buffer once its lane has moved past it and its output is framed", async () => {
    // zlib's lane output buffers, caught as zlib allocates them
    const zlibBuffers: Buffer[] = [];
    const allocUnsafe = Buffer.allocUnsafe;
    Buffer.allocUnsafe = ((size: number) => {
      const buffer = allocUnsafe(size);
      if (size >= 2 ** 20) zlibBuffers.push(buffer);
      return buffer;
    }) as typeof Buffer.allocUnsafe;
    const blocks = Array.from({ length: 10 }, () => randomBytes(2 ** 20)); // ~1 MiB of output each
    const members: Buffer[] = [];
    try {
      const deflater = new GzipMembers(2);
      for (const block of blocks) members.push((await deflater.compress(block, 1)).member);
    } finally {
      Buffer.allocUnsafe = allocUnsafe;
    }
    expect(zlibBuffers.length, "a full buffer per block or so").toBeGreaterThanOrEqual(blocks.length - 2);
    // only each lane's current buffer is left: zlib may still write into it
    expect(zlibBuffers.filter((b) => !(b.buffer as ArrayBuffer).detached).length).toBeLessThanOrEqual(2);
    for (const [i, member] of members.entries()) {
      expect(gunzipSync(member).equals(blocks[i]!), `block ${i}`).toBe(true);
    }
  });

  it("refuses a level zlib refuses, and goes on deflating afterwards", async () => {
    const deflater = new GzipMembers(1);
    await expect(deflater.compress(block(1024, 5), 42)).rejects.toMatchObject({
      code: "INTERNAL",
      message: expect.stringMatching(/^gzip compression failed: .*level/),
    });
    const { member } = await deflater.compress(block(1024, 5), 3);
    expect(gunzipSync(member).length).toBe(1024);
  });

  it("deflates in one lane per core plus one, leaving a pool thread for file I/O", () => {
    expect(deflateConcurrency(2, 4)).toBe(3);
    expect(deflateConcurrency(8, 4)).toBe(3);
    expect(deflateConcurrency(8, 10)).toBe(9);
    expect(deflateConcurrency(1, 4)).toBe(2);
    expect(deflateConcurrency(4, 1)).toBe(1);
    expect(threadPoolSize({})).toBe(4);
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: "12" })).toBe(12);
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: "many" })).toBe(4);
  });

  it("lets the process end as soon as its work is done", () => {
    for (const blocks of [0, 1, 3]) {
      const { ms, status, stderr } = exitTime(blocks);
      expect(status, stderr).toBe(0);
      expect(ms, `${blocks} block(s)`).toBeLessThan(3000);
    }
  });
});
