/**
 * The archive layout, shared with vCluster so each tool reads the other's snapshots:
 * a gzip'd tar; vCluster's metadata entries first (release, request, revision), then either one
 * regular-file entry per key (name = raw key, content = value, mode 0666, mtime 0, sorted) or
 * etcd's db snapshot as one `db` entry; then vsnap's additions, still under the metadata prefix
 * (vCluster skips those): the vcluster config, the volume snapshots, and last the manifest.
 */
export const SNAPSHOT_PREFIX = "/vcluster/snapshot/";
export const RELEASE_ENTRY = "/vcluster/snapshot/release";
export const REQUEST_ENTRY_PREFIX = "/vcluster/snapshot/request";
export const REQUEST_ENTRY = "/vcluster/snapshot/request/v1beta1";
export const REVISION_ENTRY = "/vcluster/snapshot/revision";
export const DB_ENTRY = "/vcluster/snapshot/db";
export const SKIPKEYS_ENTRY = "/vcluster/snapshot/skipkeys";
export const CONFIG_ENTRY = "/vcluster/snapshot/vsnap/config";
export const VOLUMES_ENTRY = "/vcluster/snapshot/vsnap/volumes";
export const MANIFEST_ENTRY = "/vcluster/snapshot/vsnap/manifest";

export const ARCHIVE_FORMAT = "vsnap.dev/archive";
export const ARCHIVE_FORMAT_VERSION = 1;
/**
 * vCluster compresses at level 3 ("default level can get quite cpu heavy"). Level 2 is the knee of
 * the measured curve: 10 % less deflate CPU than 3 for a 1.7 % larger archive, while level 1 saves
 * 6 % more for another 1.9 % (docs/benchmarks.md, "Compression choices").
 */
export const DEFAULT_COMPRESSION_LEVEL = 2;

/** Helm release info, exactly vCluster's `HelmRelease` JSON (values = base64 of the values YAML). */
export interface HelmRelease {
  readonly releaseName: string;
  readonly releaseNamespace: string;
  readonly chartName: string;
  readonly chartVersion: string;
  readonly values?: string;
}

/** vCluster's request JSON (`/vcluster/snapshot/request/v1beta1`); vsnap adds fields, never removes. */
export interface SnapshotRequestRecord {
  readonly metadata: { readonly name: string; readonly creationTimestamp: string | null };
  readonly spec: { readonly url: string; readonly includeVolumes?: boolean; readonly [k: string]: unknown };
  readonly status: {
    readonly phase?: string;
    readonly error?: { readonly message?: string };
    readonly [k: string]: unknown;
  };
}

/** What `--include-volumes` records per PVC (see @vsnap/kube). Kept opaque to core. */
export type VolumeSnapshotRecord = Readonly<Record<string, unknown>>;

export interface ArchiveMetadata {
  readonly release?: HelmRelease;
  readonly request?: SnapshotRequestRecord;
  /** The vcluster.yaml the cluster runs with. */
  readonly vclusterConfig?: string;
  readonly volumes?: readonly VolumeSnapshotRecord[];
}

/** The last entry of a vsnap archive: what `verify` and every restore check before trusting it. */
export interface ArchiveManifest {
  readonly format: typeof ARCHIVE_FORMAT;
  readonly formatVersion: number;
  readonly toolVersion: string;
  readonly createdAt: string;
  readonly backingStore: string;
  readonly mode: "kv" | "db";
  readonly revision?: number;
  /** Entries before the manifest (metadata included). */
  readonly entries: number;
  /** Backing-store keys (kv mode). */
  readonly keys: number;
  /** Content bytes of all entries before the manifest. */
  readonly bytes: number;
  /**
   * SHA-256 (hex) over every entry before the manifest, in order, each fed as
   * `name` UTF-8 bytes, 0x00, decimal content length, 0x00, content.
   */
  readonly sha256: string;
  /**
   * The gzip bytes that precede the manifest. vsnap writes the manifest (and the tar end marker)
   * as a last gzip member of its own, uncompressed ("stored"), so these digests cover every byte
   * of the file before it; `verify` then proves the file is byte for byte what was written, which
   * entry digests alone cannot (gzip header fields and deflate padding bits decode identically).
   * Absent from manifests of tools that do not lay out the file this way.
   */
  readonly compressed?: {
    /** Length of the gzip data before the manifest's member. */
    readonly bytes: number;
    /** SHA-256 (hex) of those bytes. */
    readonly sha256: string;
  };
}

export type EntryKind =
  | "release"
  | "request"
  | "revision"
  | "db"
  | "skipkeys"
  | "config"
  | "volumes"
  | "manifest"
  | "metadata" // an unknown /vcluster/snapshot/ entry: skipped by restores
  | "key";

export function entryKind(name: string): EntryKind {
  if (!name.startsWith(SNAPSHOT_PREFIX)) return "key";
  if (name === RELEASE_ENTRY) return "release";
  if (name.startsWith(REQUEST_ENTRY_PREFIX)) return "request";
  if (name === REVISION_ENTRY) return "revision";
  if (name === DB_ENTRY) return "db";
  if (name === SKIPKEYS_ENTRY) return "skipkeys";
  if (name === CONFIG_ENTRY) return "config";
  if (name === VOLUMES_ENTRY) return "volumes";
  if (name === MANIFEST_ENTRY) return "manifest";
  return "metadata";
}
