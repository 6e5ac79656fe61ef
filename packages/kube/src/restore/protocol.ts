import type { KeyDiff } from "./diff.js";

/**
 * What `vsnap restore-data` (the restore Job's container) reports to the CLI: one JSON object in
 * its termination message (terminationMessagePath, at most 4 KiB), so the CLI learns exactly what
 * happened without reading logs.
 */
export interface RestoreDataResult {
  readonly v: 1;
  readonly action: "restore" | "rollback" | "dry-run";
  readonly ok: boolean;
  /** What was done, in order, one short sentence each. */
  readonly steps: readonly string[];
  readonly error?: string;
  /** After a failure: the data as it was before the restore is back in place. */
  readonly oldDataInPlace?: boolean;
  /** Rollback: the restore had finished before its pod stopped; its data is in place. */
  readonly restoreCompleted?: boolean;
  /** Where the old data was kept (and still is, when `backupKept`). */
  readonly backup?: string;
  readonly backupKept?: boolean;
  readonly restored?: { readonly keys: number; readonly bytes: number; readonly revision: number };
  readonly diff?: KeyDiff;
  /** Backups of earlier restores found beside the data (interrupted ones the user may want). */
  readonly otherBackups?: readonly string[];
}

export const RESULT_LIMIT = 4000;

/** Serialises a result to fit a termination message: steps are shortened from the front first. */
export function encodeResult(result: RestoreDataResult): string {
  let r: RestoreDataResult = result;
  let text = JSON.stringify(r);
  while (Buffer.byteLength(text) > RESULT_LIMIT && r.steps.length > 1) {
    r = { ...r, steps: ["...", ...r.steps.slice(2)] };
    text = JSON.stringify(r);
  }
  if (Buffer.byteLength(text) > RESULT_LIMIT && r.error) {
    r = { ...r, error: `${r.error.slice(0, 1000)}...` };
    text = JSON.stringify(r);
  }
  return text;
}

/** The result in a termination message, if it is one. */
export function decodeResult(message: string | undefined): RestoreDataResult | undefined {
  if (!message) return undefined;
  const start = message.indexOf('{"v":1');
  if (start < 0) return undefined;
  try {
    const parsed = JSON.parse(message.slice(start)) as RestoreDataResult;
    return parsed.v === 1 ? parsed : undefined;
  } catch {
    return undefined;
  }
}
