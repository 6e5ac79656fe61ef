import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { median } from "./results.js";

export interface MachineSpeedSummary {
  /** The fastest probe of the run: SHA-256 of 32 MiB, in ms. */
  readonly bestProbeMs: number;
  /** Each measured run's start, as a share of the best (1 = as fast as ever): median and range. */
  readonly median: number;
  readonly slowest: number;
  readonly fastest: number;
}

const PROBE_BYTES = 32 * 1024 * 1024;
/** Probes taken before the first run, left out of the runs' summary. */
const CALIBRATION_PROBES = 5;

/**
 * This machine (a VM) runs 20–45 % slower for seconds to minutes at a time, with nothing to see
 * from inside: the guest is idle and reports no steal time. Before each measured run the bench
 * times a fixed CPU task, and the run keeps that time, so that a reader can tell the code's
 * figures from the host's phases (docs/benchmarks.md shows each floor's). Nothing waits on it:
 * the phases come too often to be waited out.
 */
export class MachineSpeed {
  readonly #task: () => number;
  readonly #probes: number[] = [];

  constructor(task: () => number = hashTask()) {
    this.#task = task;
  }

  /** A few probes a moment apart, so that the first runs have a best to compare with. */
  async calibrate(pauseMs = 200): Promise<void> {
    for (let i = 0; i < CALIBRATION_PROBES; i++) {
      this.probe();
      await sleep(pauseMs);
    }
  }

  /** The task's time now, best of three, in ms. */
  probe(): number {
    const ms = Math.min(this.#task(), this.#task(), this.#task());
    this.#probes.push(ms);
    return ms;
  }

  get bestMs(): number {
    return Math.min(...this.#probes);
  }

  /** Over every probe since the calibration. */
  summary(): MachineSpeedSummary {
    const best = this.bestMs;
    const shares = this.#probes.slice(CALIBRATION_PROBES).map((ms) => best / ms);
    return {
      bestProbeMs: best,
      median: shares.length > 0 ? median(shares) : 1,
      slowest: Math.min(1, ...shares),
      fastest: Math.max(0, ...shares),
    };
  }
}

function hashTask(): () => number {
  const data = Buffer.alloc(PROBE_BYTES, 0x5a);
  return () => {
    const started = performance.now();
    createHash("sha256").update(data).digest();
    return performance.now() - started;
  };
}
