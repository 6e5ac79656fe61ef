/**
 * What the parent asks a driver child to do, and what the child reports back. Every measured
 * operation runs in its own `node` process so its peak RSS (VmHWM) and temp files are its own.
 */

export type SourceSpec =
  | { readonly kind: "sqlite"; readonly file: string }
  | {
      readonly kind: "etcd";
      readonly endpoint: string;
      readonly mode: "kv" | "db";
      /** Range page limits (backing-etcd's defaults when absent). */
      readonly pageBytes?: number;
      readonly pageSize?: number;
    };

export type TargetSpec =
  | { readonly kind: "sqlite"; readonly file: string }
  | { readonly kind: "etcd"; readonly endpoint: string }
  /** A new etcd data dir (member `n1`, peer URL on `peerPort`), made with etcd's own tool. */
  | { readonly kind: "etcd-data-dir"; readonly dataDir: string; readonly peerPort: number };

/** A store as the child opens it: the plugin package, the URL and the environment it reads credentials from. */
export interface StoreSpec {
  readonly name: string;
  readonly plugin: string;
  /** The snapshot URL (`container:///…/x.tar.gz`, `s3://bucket/x.tar.gz?…`, `oci://…:tag`). */
  readonly url: string;
  readonly env: Readonly<Record<string, string>>;
}

export interface CompressionSpec {
  readonly level?: number;
  readonly mode?: "parallel" | "single";
  /** Tar bytes per gzip member. */
  readonly blockSize?: number;
}

export type Job =
  | { readonly op: "generate-sqlite"; readonly file: string; readonly keys: number; readonly seed: number }
  | {
      readonly op: "load-etcd";
      readonly endpoint: string;
      readonly keys: number;
      readonly seed: number;
    }
  | {
      readonly op: "snapshot";
      readonly source: SourceSpec;
      readonly store: StoreSpec;
      readonly compression?: CompressionSpec;
    }
  | { readonly op: "restore"; readonly target: TargetSpec; readonly store: StoreSpec }
  | { readonly op: "verify"; readonly store: StoreSpec }
  /** Reads the source to the end and drops it: what the backing store alone costs. */
  | { readonly op: "read"; readonly source: SourceSpec }
  /** Writes the archive and drops its bytes: source + tar + compression, no store. */
  | { readonly op: "archive"; readonly source: SourceSpec; readonly compression?: CompressionSpec }
  | {
      readonly op: "compress";
      readonly file: string;
      readonly design: "worker-threads" | "threadpool" | "single-stream";
      readonly level: number;
      readonly blockSize: number;
    };

export interface JobResult {
  readonly ok: boolean;
  readonly error?: string;
  /** Time of the operation itself inside the child (after imports), ms. */
  readonly opMs: number;
  readonly keys: number;
  /** Backing-store bytes handled (values, or the db for etcd db mode). */
  readonly bytes: number;
  /** Bytes of the archive written or read. */
  readonly archiveBytes: number;
  /** VmHWM of the child at the end: its own peak resident set, worker threads included. */
  readonly peakRssBytes: number;
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  readonly extra?: Readonly<Record<string, number | string | boolean>>;
}
