import type { StoredRequest } from "@vsnap/kube";

/** The VOLUMES column: `completed/total` of a request with --include-volumes, else "-". */
export function volumesCell(request: StoredRequest | undefined): string | undefined {
  const v = request?.request.status.volumeSnapshots;
  return v ? `${v.completed}/${v.total}` : undefined;
}

/** One line per volume that did not simply complete: failures with their reason, skips with why. */
export function volumeLines(request: StoredRequest | undefined): string[] {
  const v = request?.request.status.volumeSnapshots;
  if (!v) return [];
  const lines: string[] = [];
  for (const [key, s] of Object.entries(v.snapshots)) {
    if (s.phase === "Completed") lines.push(`  ${key}: Completed (snapshot ${s.snapshotHandle ?? "?"})`);
    else lines.push(`  ${key}: ${s.phase}${s.error?.message ? `: ${s.error.message}` : ""}`);
  }
  return lines.length
    ? [
        `Volumes (${v.phase}: ${v.completed} of ${v.total} snapshotted${v.skipped ? `, ${v.skipped} skipped` : ""}):`,
        ...lines,
      ]
    : [];
}
