import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

export interface BenchSize {
  readonly label: string;
  readonly keys: number;
}

export interface BenchOptions {
  readonly quick: boolean;
  readonly sizes: readonly BenchSize[];
  readonly stores: readonly string[];
  readonly backings: readonly ("sqlite" | "etcd")[];
  /** Runs per measurement; the median wall time is reported. */
  readonly repeat: number;
  readonly seed: number;
  readonly baselines: boolean;
  readonly restore: boolean;
  readonly matrix: boolean;
  /** The compressor-design comparison (off with --quick unless asked for). */
  readonly designs: boolean;
  readonly profile: boolean;
  /** Where the markdown report goes. */
  readonly out: string;
  /** Where scratch data (generated stores, archives) lives. */
  readonly workDir: string;
  readonly keep: boolean;
  /** Every store variant at every size (large sizes run a lean set otherwise). */
  readonly thorough: boolean;
  readonly notes: readonly string[];
}

export const USAGE = `Usage: pnpm bench [--quick] [options]

Measures vsnap snapshot and restore (wall time, MB/s, keys/s, peak RSS, temp disk) on generated
SQLite (kine) and etcd backing stores, beside the pipelines users script instead, and writes a
markdown report.

  --quick               one small size (20k keys), for a smoke run (< 2 min); report goes to a
                        temp file unless --write or --out is given
  --sizes LIST          dataset sizes in keys, e.g. 100k,1m (default 100k,1m)
  --stores LIST         container,s3,oci (default all; missing ones are skipped with a note)
  --backings LIST       sqlite,etcd (default both)
  --repeat N            runs per measurement, median reported (default 1)
  --seed N              dataset seed (default 1)
  --no-baselines        skip etcdctl/sqlite3 + gzip and the vCluster-style pipeline
  --no-restore          skip restores
  --no-matrix           skip the compression level / member size matrix (--quick runs 2 of its 11 cells)
  --designs / --no-designs
                        compare compressor designs on the same tar bytes (default on, off with --quick)
  --no-profile          skip the CPU profile of the etcd key/value snapshot
  --write               write docs/benchmarks.md (the default without --quick)
  --out FILE            write the report to FILE
  --work-dir DIR        scratch space for generated stores and archives (default: the OS temp dir)
  --keep                keep the scratch data
  --thorough            above 200k keys too, run the vCluster-style pipeline to every store and
                        restore etcd from every store (by default those run at the smaller sizes)
  --note TEXT           a line added to the report (repeatable), e.g. "the machine was shared"
  -h, --help            this text
`;

/** `20k`, `1m`, `250000` → keys. */
export function parseCount(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!match) throw new Error(`not a key count: "${text}" (use e.g. 20k, 100k, 1m)`);
  const unit = match[2]!.toLowerCase();
  const n = Number(match[1]) * (unit === "m" ? 1_000_000 : unit === "k" ? 1_000 : 1);
  if (!Number.isInteger(n) || n < 1) throw new Error(`not a key count: "${text}"`);
  return n;
}

export function sizeLabel(keys: number): string {
  if (keys % 1_000_000 === 0) return `${keys / 1_000_000}M keys`;
  if (keys % 1_000 === 0) return `${keys / 1_000}k keys`;
  return `${keys} keys`;
}

const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

export function parseBenchArgs(argv: readonly string[], repoRoot: string): BenchOptions | "help" {
  const { values } = parseArgs({
    // `pnpm bench -- --quick` hands the `--` through; it separates nothing here
    args: argv.filter((a, i) => !(a === "--" && i === 0)),
    strict: true,
    options: {
      quick: { type: "boolean", default: false },
      sizes: { type: "string" },
      stores: { type: "string", default: "container,s3,oci" },
      backings: { type: "string", default: "sqlite,etcd" },
      repeat: { type: "string", default: "1" },
      seed: { type: "string", default: "1" },
      "no-baselines": { type: "boolean", default: false },
      "no-restore": { type: "boolean", default: false },
      "no-matrix": { type: "boolean", default: false },
      designs: { type: "boolean" },
      "no-designs": { type: "boolean", default: false },
      "no-profile": { type: "boolean", default: false },
      write: { type: "boolean", default: false },
      out: { type: "string" },
      "work-dir": { type: "string" },
      keep: { type: "boolean", default: false },
      thorough: { type: "boolean", default: false },
      note: { type: "string", multiple: true, default: [] },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help";
  const quick = values.quick;
  const sizes = (values.sizes ? list(values.sizes) : quick ? ["20k"] : ["100k", "1m"]).map((s) => {
    const keys = parseCount(s);
    return { label: sizeLabel(keys), keys };
  });
  const stores = list(values.stores);
  for (const s of stores)
    if (!["container", "s3", "oci"].includes(s)) throw new Error(`unknown store "${s}"`);
  const backings = list(values.backings);
  for (const b of backings)
    if (b !== "sqlite" && b !== "etcd") throw new Error(`unknown backing store "${b}"`);
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat needs a positive integer`);
  const out = values.out
    ? path.resolve(values.out)
    : quick && !values.write
      ? path.join(os.tmpdir(), "vsnap-bench", "benchmarks.md")
      : path.join(repoRoot, "docs", "benchmarks.md");
  return {
    quick,
    sizes,
    stores,
    backings: backings as ("sqlite" | "etcd")[],
    repeat,
    seed: Number(values.seed),
    baselines: !values["no-baselines"],
    restore: !values["no-restore"],
    matrix: !values["no-matrix"],
    designs: values["no-designs"] ? false : (values.designs ?? !quick),
    profile: !values["no-profile"],
    out,
    workDir: path.resolve(values["work-dir"] ?? os.tmpdir()),
    keep: values.keep,
    thorough: values.thorough,
    notes: values.note,
  };
}
