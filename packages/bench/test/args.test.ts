import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseBenchArgs, parseCount, sizeLabel } from "../src/args.js";

describe("parseCount", () => {
  it("reads plain, k and m counts", () => {
    expect(parseCount("20k")).toBe(20_000);
    expect(parseCount("1M")).toBe(1_000_000);
    expect(parseCount("2.5k")).toBe(2_500);
    expect(parseCount("1234")).toBe(1234);
  });
  it("rejects what is not a count", () => {
    expect(() => parseCount("lots")).toThrow(/not a key count/);
    expect(() => parseCount("0")).toThrow(/not a key count/);
  });
  it("labels sizes", () => {
    expect(sizeLabel(1_000_000)).toBe("1M keys");
    expect(sizeLabel(100_000)).toBe("100k keys");
    expect(sizeLabel(1234)).toBe("1234 keys");
  });
});

describe("parseBenchArgs", () => {
  const root = "/repo";
  it("writes docs/benchmarks.md by default, at 100k and 1M keys", () => {
    const o = parseBenchArgs([], root);
    if (o === "help") throw new Error("help");
    expect(o.out).toBe(path.join(root, "docs", "benchmarks.md"));
    expect(o.sizes.map((s) => s.keys)).toEqual([100_000, 1_000_000]);
    expect(o.designs).toBe(true);
  });
  it("--quick keeps docs/benchmarks.md untouched unless --write is given", () => {
    const quick = parseBenchArgs(["--quick"], root);
    if (quick === "help") throw new Error("help");
    expect(quick.out.startsWith(os.tmpdir())).toBe(true);
    expect(quick.sizes.map((s) => s.keys)).toEqual([20_000]);
    expect(quick.designs).toBe(false);
    const written = parseBenchArgs(["--quick", "--write"], root);
    if (written === "help") throw new Error("help");
    expect(written.out).toBe(path.join(root, "docs", "benchmarks.md"));
  });
  it("rejects unknown stores and options", () => {
    expect(() => parseBenchArgs(["--stores", "ftp"], root)).toThrow(/unknown store/);
    expect(() => parseBenchArgs(["--fast"], root)).toThrow();
  });
});
