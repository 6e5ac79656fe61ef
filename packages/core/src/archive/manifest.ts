import { VsnapError } from "../errors.js";
import { ARCHIVE_FORMAT, ARCHIVE_FORMAT_VERSION, type ArchiveManifest } from "./format.js";
import { integrityError } from "./integrity.js";

const HEX64 = /^[0-9a-f]{64}$/u;

export function parseManifest(data: Buffer): ArchiveManifest {
  let value: unknown;
  try {
    value = JSON.parse(data.toString("utf8"));
  } catch {
    throw integrityError("archive is corrupt: the manifest is not valid JSON");
  }
  const m = value as Partial<Record<keyof ArchiveManifest, unknown>> | null;
  if (typeof m !== "object" || m === null || m.format !== ARCHIVE_FORMAT) {
    throw integrityError(`archive is corrupt: the manifest is not a ${ARCHIVE_FORMAT} manifest`);
  }
  if (typeof m.formatVersion !== "number" || m.formatVersion > ARCHIVE_FORMAT_VERSION) {
    throw new VsnapError(
      "UNSUPPORTED",
      `archive format version ${String(m.formatVersion)} is newer than this vsnap supports (${ARCHIVE_FORMAT_VERSION})`,
      { hint: "upgrade vsnap to read this snapshot" },
    );
  }
  const count = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  const compressed = m.compressed as { bytes?: unknown; sha256?: unknown } | undefined;
  const valid =
    count(m.entries) &&
    count(m.keys) &&
    count(m.bytes) &&
    typeof m.sha256 === "string" &&
    HEX64.test(m.sha256) &&
    (m.mode === "kv" || m.mode === "db") &&
    (compressed === undefined ||
      (typeof compressed === "object" &&
        compressed !== null &&
        count(compressed.bytes) &&
        typeof compressed.sha256 === "string" &&
        HEX64.test(compressed.sha256)));
  if (!valid) throw integrityError("archive is corrupt: the manifest is missing fields or has invalid ones");
  return value as ArchiveManifest;
}
