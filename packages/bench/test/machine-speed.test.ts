import { describe, expect, it } from "vitest";
import { MachineSpeed } from "../src/machine-speed.js";

/** A task that takes the given times in turn (each probe is the best of three calls). */
function scripted(...probes: number[]): () => number {
  const times = probes.flatMap((t) => [t, t + 1, t + 2]);
  let i = 0;
  return () => times[Math.min(i++, times.length - 1)]!;
}

describe("MachineSpeed", () => {
  it("reports each run's start against the fastest probe, calibration excluded from the shares", async () => {
    const speed = new MachineSpeed(scripted(12, 10, 11, 10, 10, 20, 10, 12.5, 8));
    await speed.calibrate(0);
    expect([speed.probe(), speed.probe(), speed.probe(), speed.probe()]).toEqual([20, 10, 12.5, 8]);
    // best 8 ms: the runs started at 40, 80, 64 and 100 %
    expect(speed.summary()).toEqual({ bestProbeMs: 8, median: 0.72, slowest: 0.4, fastest: 1 });
  });
});
