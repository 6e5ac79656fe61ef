import type { Step } from "./measure.js";

/**
 * The pipelines a user would script instead of vsnap, run on the same data in the same run. Temp
 * files go to $TMPDIR (the sandbox the measurement watches) and are removed at the end, as a
 * careful script would.
 */

export type BaselineSource =
  | { readonly kind: "etcd"; readonly endpoint: string }
  | { readonly kind: "sqlite"; readonly file: string };

export const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/** The whole backing store as one file at `$TMPDIR/<name>`: etcd's snapshot, or SQLite's online backup. */
export function dumpStep(source: BaselineSource, name: string): Step {
  return source.kind === "etcd"
    ? `etcdctl --endpoints=${source.endpoint} snapshot save "$TMPDIR/${name}" >/dev/null`
    : `sqlite3 ${q(source.file)} ".backup '$TMPDIR/${name}'"`;
}

/** `etcdctl snapshot save` / `sqlite3 .backup`, then `gzip -3` to a file. */
export function dumpAndGzip(source: BaselineSource, outputFile: string): Step[] {
  return [
    dumpStep(source, "dump.db"),
    `gzip -3 -c "$TMPDIR/dump.db" > ${q(outputFile)} && rm -f "$TMPDIR/dump.db"`,
  ];
}

/**
 * vCluster's own pipeline: the whole db to a temp file, then a tar of it through one single-threaded
 * level-3 gzip into a second temp file, then the upload of that file.
 */
export function vclusterStyle(source: BaselineSource, upload: (file: string) => string): Step[] {
  return [
    dumpStep(source, "db"),
    `tar -C "$TMPDIR" -cf - db | gzip -3 > "$TMPDIR/snapshot.tar.gz" && rm -f "$TMPDIR/db"`,
    `${upload('"$TMPDIR/snapshot.tar.gz"')} && rm -f "$TMPDIR/snapshot.tar.gz"`,
  ];
}

export const BASELINE_NAMES = {
  etcd: "etcdctl snapshot save + gzip -3",
  sqlite: "sqlite3 .backup + gzip -3",
  vcluster: "vCluster-style (db → temp file → tar | gzip -3 → upload)",
} as const;
