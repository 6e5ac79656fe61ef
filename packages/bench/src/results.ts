import type { MachineInfo } from "./machine.js";
import type { MachineSpeedSummary } from "./machine-speed.js";
import type { Measurement } from "./measure.js";
import type { ThreadProfile } from "./profile.js";

export interface Dataset {
  readonly label: string;
  readonly keys: number;
  /** Sum of value bytes: the backing-store bytes every MB/s figure is computed from. */
  readonly valueBytes: number;
  readonly largestValue: number;
  readonly sqliteFileBytes?: number;
  readonly etcdDbBytes?: number;
  readonly sqliteGenerateMs?: number;
  readonly etcdLoadMs?: number;
}

/** `etcd` alone: a baseline that dumps the whole etcd db (compared with both vsnap modes). */
export type Backing = "sqlite" | "etcd kv" | "etcd db" | "etcd";

export interface Row {
  readonly size: string;
  readonly backing: Backing;
  /** container / s3 / oci, or `file` for a baseline writing a local file. */
  readonly store: string;
  /** `vsnap`, or a baseline's name. */
  readonly tool: string;
  readonly op: "snapshot" | "restore";
  readonly m: Measurement;
  /** Every wall time when repeated (the row holds the median run). */
  readonly walls?: readonly number[];
  /**
   * A snapshot's wall times from the runs that alternated with its restores: what the restore
   * floor compares (the row's median may include runs taken later, for the headline ratio).
   */
  readonly alternated?: readonly number[];
}

export interface MatrixRow {
  readonly level: number;
  readonly mode: "parallel" | "single";
  readonly blockSize: number;
  readonly m: Measurement;
}

/** A snapshot taken apart: the source read alone, then with the archive writer (no store). */
export interface StageRow {
  readonly size: string;
  readonly backing: Backing;
  readonly stage: "read" | "archive";
  readonly m: Measurement;
}

/** etcd range page sizes tried on the key/value read alone. */
export interface PageRow {
  /** Absent: backing-etcd's default. */
  readonly pageBytes?: number;
  readonly pageSize?: number;
  readonly m: Measurement;
}

export interface DesignRow {
  readonly design: string;
  readonly level: number;
  readonly blockSize: number;
  readonly m: Measurement;
}

export interface InteropCheck {
  readonly reader: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface BenchResults {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly quick: boolean;
  readonly machine: MachineInfo;
  readonly loadAfter: readonly number[];
  /** How fast the machine was as each run started (not in a --quick run). */
  readonly machineSpeed?: MachineSpeedSummary;
  readonly versions: Readonly<Record<string, string>>;
  readonly notes: readonly string[];
  readonly skipped: readonly string[];
  readonly datasets: readonly Dataset[];
  readonly rows: readonly Row[];
  readonly stages?: readonly StageRow[];
  readonly pages?: { readonly size: string; readonly rows: readonly PageRow[] };
  readonly matrix?: { readonly size: string; readonly backing: Backing; readonly rows: readonly MatrixRow[] };
  /** Compressor designs on the same uncompressed tar (the matrix's dataset). */
  readonly designs?: {
    readonly size: string;
    readonly tarBytes: number;
    readonly rows: readonly DesignRow[];
  };
  readonly profile?: {
    readonly size: string;
    readonly label: string;
    readonly wallMs: number;
    readonly threads: readonly ThreadProfile[];
  };
  readonly interop?: {
    readonly size: string;
    readonly archive: string;
    readonly checks: readonly InteropCheck[];
  };
}

export const MiB = 1024 * 1024;

/** The tool name of a vsnap restore into a new etcd data dir (beside plain `vsnap` rows). */
export const DATA_DIR_TOOL = "vsnap → etcd data dir";

/** vsnap's own rows, whichever way it restored. */
export function isVsnap(row: Row): boolean {
  return row.tool === "vsnap" || row.tool === DATA_DIR_TOOL;
}

export function mbPerSecond(bytes: number, ms: number): number {
  return ms > 0 ? bytes / MiB / (ms / 1000) : 0;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Ratio {
  readonly size: string;
  readonly backing: Backing;
  readonly store: string;
  readonly baseline: string;
  readonly vsnapMs: number;
  readonly baselineMs: number;
  /** Throughput of vsnap over the baseline's (= baseline time / vsnap time). */
  readonly ratio: number;
}

/** Which baseline each vsnap snapshot is compared with: the same data, the same kind of destination. */
export function ratios(
  rows: readonly Row[],
  baselineFor: (row: Row) => readonly { tool: string; store: string }[],
): Ratio[] {
  const out: Ratio[] = [];
  for (const row of rows) {
    if (row.tool !== "vsnap" || row.op !== "snapshot" || row.m.error) continue;
    for (const wanted of baselineFor(row)) {
      const base = rows.find(
        (r) =>
          r.size === row.size &&
          r.op === "snapshot" &&
          r.tool === wanted.tool &&
          r.store === wanted.store &&
          sameData(r.backing, row.backing) &&
          !r.m.error,
      );
      if (!base) continue;
      out.push({
        size: row.size,
        backing: row.backing,
        store: row.store,
        baseline: `${base.tool}${base.store === "file" ? "" : ` → ${base.store}`}`,
        vsnapMs: row.m.wallMs,
        baselineMs: base.m.wallMs,
        ratio: base.m.wallMs / row.m.wallMs,
      });
    }
  }
  return out;
}

/** Baselines of etcd dump the whole db whatever vsnap's mode; they are compared with both modes. */
function sameData(a: Backing, b: Backing): boolean {
  return a === b || (a.startsWith("etcd") && b.startsWith("etcd"));
}

export interface FloorCheck {
  readonly floor: string;
  readonly measured: string;
  readonly pass: boolean | undefined;
}
