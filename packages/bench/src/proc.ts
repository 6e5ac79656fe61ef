import { readFileSync } from "node:fs";

/** A `kB` field of /proc/<pid>/status (VmHWM, VmRSS) in bytes, or undefined when absent. */
export function statusField(statusText: string, field: string): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, "m").exec(statusText);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

/** This process's peak resident set (VmHWM): every thread, worker threads included. */
export function ownPeakRss(): number {
  try {
    return (
      statusField(readFileSync("/proc/self/status", "utf8"), "VmHWM") ?? process.resourceUsage().maxRSS * 1024
    );
  } catch {
    return process.resourceUsage().maxRSS * 1024;
  }
}
