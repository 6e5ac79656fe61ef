import type { SnapshotProgress } from "@vsnap/core";
import { formatBytes, formatCount } from "./output.js";

/** One progress line: keys and bytes against totals when known, rate, and archive size. */
export function progressLine(p: SnapshotProgress, startedAt: number): string {
  const seconds = Math.max(0.001, (Date.now() - startedAt) / 1000);
  const keys =
    p.totalKeys !== undefined
      ? `${formatCount(p.keys)}/${formatCount(p.totalKeys)} keys`
      : `${formatCount(p.keys)} keys`;
  const bytes =
    p.totalBytes !== undefined
      ? `${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}`
      : formatBytes(p.bytes);
  const pct = p.totalBytes ? ` ${Math.min(100, Math.floor((100 * p.bytes) / p.totalBytes))}%` : "";
  const archive = p.archiveBytes > 0 ? `, archive ${formatBytes(p.archiveBytes)}` : "";
  return `${p.phase}${pct}: ${keys}, ${bytes} at ${formatBytes(p.bytes / seconds)}/s${archive}`;
}
