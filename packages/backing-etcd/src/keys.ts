import { isUtf8 } from "node:buffer";
import { SNAPSHOT_PREFIX, VsnapError } from "@vsnap/core";

/** The smallest key greater than every key starting with `prefix` (etcd's `GetPrefixRangeEnd`). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: to the end of the keyspace
}

/** The key right after `key` in byte order: where the next range page starts. */
export function keyAfter(key: Uint8Array): Buffer {
  const next = Buffer.allocUnsafe(key.length + 1);
  next.set(key, 0);
  next[key.length] = 0;
  return next;
}

const ROOT = Buffer.from("/");
const SNAPSHOT = Buffer.from(SNAPSHOT_PREFIX);

/** Every key vCluster keeps lives under `/`: the range `["/", "0")`. */
export const ROOT_RANGE = { key: ROOT, rangeEnd: prefixEnd(ROOT) } as const;

/**
 * What a snapshot reads: `/` minus `/vcluster/snapshot/` (archive metadata never comes from the
 * store), as two ranges so those keys are not even transferred.
 */
export const SNAPSHOT_RANGES: readonly { readonly key: Buffer; readonly rangeEnd: Buffer }[] = [
  { key: ROOT, rangeEnd: SNAPSHOT },
  { key: prefixEnd(SNAPSHOT), rangeEnd: prefixEnd(ROOT) },
];

export function isMetadataKey(key: Uint8Array): boolean {
  return key.length >= SNAPSHOT.length && SNAPSHOT.equals(key.subarray(0, SNAPSHOT.length));
}

/** True for keys a snapshot copies: under `/`, not archive metadata. */
export function isSnapshotKey(key: Uint8Array): boolean {
  return key.length > 0 && key[0] === 0x2f && !isMetadataKey(key);
}

/**
 * Archive entries are named by UTF-8 strings, so a key must be valid UTF-8 to round-trip
 * (Kubernetes keys always are); anything else is refused rather than silently altered.
 */
export function keyToString(key: Buffer): string {
  if (!isUtf8(key)) {
    throw new VsnapError(
      "UNSUPPORTED",
      `etcd key 0x${key.toString("hex")} is not valid UTF-8 and cannot be archived`,
      {
        hint: "vsnap archives keys as tar entry names; remove or rename keys that are not UTF-8",
      },
    );
  }
  return key.toString("utf8");
}
