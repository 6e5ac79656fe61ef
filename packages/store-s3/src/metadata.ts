/** Annotations that S3 metadata cannot carry verbatim travel together, JSON in base64url, under this name. */
export const PACKED_METADATA_KEY = "vsnap-annotations";

// S3 lower-cases metadata names and sends them as HTTP headers: only such names survive unchanged.
const PLAIN_NAME = /^[a-z0-9][a-z0-9._-]*$/;
const PLAIN_VALUE = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/;

/** Annotations -> S3 user metadata (`x-amz-meta-*`), so that they round-trip exactly. */
export function annotationsToMetadata(
  annotations: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const metadata: Record<string, string> = {};
  const packed: Record<string, string> = {};
  for (const [name, value] of Object.entries(annotations ?? {})) {
    if (PLAIN_NAME.test(name) && name !== PACKED_METADATA_KEY && PLAIN_VALUE.test(value))
      metadata[name] = value;
    else packed[name] = value;
  }
  if (Object.keys(packed).length > 0) {
    metadata[PACKED_METADATA_KEY] = Buffer.from(JSON.stringify(packed)).toString("base64url");
  }
  return metadata;
}

/** S3 user metadata -> annotations; objects written by other tools show their metadata as is. */
export function metadataToAnnotations(metadata: Record<string, string> | undefined): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata ?? {})) {
    if (name.toLowerCase() !== PACKED_METADATA_KEY) annotations[name.toLowerCase()] = value;
  }
  const packed = Object.entries(metadata ?? {}).find(
    ([name]) => name.toLowerCase() === PACKED_METADATA_KEY,
  )?.[1];
  if (packed) {
    try {
      const decoded: unknown = JSON.parse(Buffer.from(packed, "base64url").toString("utf8"));
      if (decoded && typeof decoded === "object") {
        for (const [name, value] of Object.entries(decoded)) {
          if (typeof value === "string") annotations[name] = value;
        }
      }
    } catch {
      annotations[PACKED_METADATA_KEY] = packed; // not ours after all: show it as it is
    }
  }
  return annotations;
}
