import { createHash } from "node:crypto";
import { VsnapError } from "@vsnap/core";
import {
  ANNOTATION_CREATED,
  ANNOTATION_FILE_SHA256,
  ANNOTATION_FILE_SIZE,
  ANNOTATION_TITLE,
  EMPTY_CONFIG_BYTES,
  EMPTY_CONFIG_DIGEST,
  EMPTY_CONFIG_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  SNAPSHOT_ARTIFACT_TYPE,
  SNAPSHOT_LAYER_MEDIA_TYPE,
  SNAPSHOT_LAYER_TITLE,
} from "./media-types.js";

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly data?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageManifest {
  readonly schemaVersion: number;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A manifest as the registry returned it: bytes (for the digest) and its parsed form. */
export interface FetchedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
  /** Undefined when the document is not an image manifest (an index, a schema 1 image, garbage). */
  readonly manifest: ImageManifest | undefined;
}

export interface BuiltManifest {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly manifest: ImageManifest;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/**
 * The snapshot manifest, field for field what oras-go's `PackManifest(v1.1, "application/vnd.loft.vcluster")`
 * gives vCluster, plus the caller's annotations and the file's digest and size. The store's own are
 * applied last so that a caller cannot make them disagree with the layer.
 */
export function buildSnapshotManifest(
  layer: { readonly digest: string; readonly size: number },
  annotations: Readonly<Record<string, string>> = {},
  created: Date = new Date(),
): BuiltManifest {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    artifactType: SNAPSHOT_ARTIFACT_TYPE,
    config: {
      mediaType: EMPTY_CONFIG_MEDIA_TYPE,
      digest: EMPTY_CONFIG_DIGEST,
      size: EMPTY_CONFIG_BYTES.length,
      data: EMPTY_CONFIG_BYTES.toString("base64"),
    },
    layers: [
      {
        mediaType: SNAPSHOT_LAYER_MEDIA_TYPE,
        digest: layer.digest,
        size: layer.size,
        annotations: { [ANNOTATION_TITLE]: SNAPSHOT_LAYER_TITLE },
      },
    ],
    annotations: {
      ...annotations,
      [ANNOTATION_CREATED]: created.toISOString(),
      [ANNOTATION_FILE_SHA256]: layer.digest.replace(/^sha256:/, ""),
      [ANNOTATION_FILE_SIZE]: String(layer.size),
    },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { bytes, digest: sha256Digest(bytes), manifest };
}

/** Parses a manifest document; anything that is not an image manifest yields `undefined`. */
export function parseImageManifest(bytes: Buffer): ImageManifest | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
  if (!isRecord(doc) || doc.schemaVersion !== 2 || !isDescriptor(doc.config)) return undefined;
  if (!Array.isArray(doc.layers) || !doc.layers.every(isDescriptor)) return undefined;
  return doc as unknown as ImageManifest;
}

/** The archive layer, found the way vCluster finds it: by media type, whatever the artifact type says. */
export function snapshotLayer(manifest: ImageManifest | undefined): Descriptor | undefined {
  return manifest?.layers.find((l) => l.mediaType === SNAPSHOT_LAYER_MEDIA_TYPE);
}

/** True for artifacts vsnap or vCluster wrote (artifactType, or the pre-1.1 config media type form). */
export function isSnapshotArtifact(manifest: ImageManifest | undefined): boolean {
  if (!manifest || !snapshotLayer(manifest)) return false;
  return (
    manifest.artifactType === SNAPSHOT_ARTIFACT_TYPE || manifest.config.mediaType === SNAPSHOT_ARTIFACT_TYPE
  );
}

/** The layer of a manifest that must hold a snapshot, or a FAILED_PRECONDITION naming what it holds. */
export function requireSnapshotLayer(fetched: FetchedManifest, display: string): Descriptor {
  const layer = snapshotLayer(fetched.manifest);
  if (layer) return layer;
  const what = fetched.manifest
    ? `an artifact of type ${fetched.manifest.artifactType ?? fetched.manifest.config.mediaType}`
    : `a ${fetched.mediaType || "non-image"} document`;
  throw new VsnapError("FAILED_PRECONDITION", `${display} is not a snapshot: it holds ${what}`, {
    hint: `a snapshot has a layer of media type ${SNAPSHOT_LAYER_MEDIA_TYPE}; pick another tag`,
  });
}

export function createdOf(manifest: ImageManifest | undefined): Date {
  const raw = manifest?.annotations?.[ANNOTATION_CREATED];
  const time = raw ? Date.parse(raw) : Number.NaN;
  return Number.isNaN(time) ? new Date(0) : new Date(time);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isDescriptor(value: unknown): value is Descriptor {
  return (
    isRecord(value) &&
    typeof value.mediaType === "string" &&
    typeof value.digest === "string" &&
    typeof value.size === "number"
  );
}
