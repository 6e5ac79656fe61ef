import { createHash } from "node:crypto";
import type { KeyValue } from "../backing.js";
import { VsnapError } from "../errors.js";
import { markTransient } from "../transient.js";
import type { HelmRelease, SnapshotRequestRecord, VolumeSnapshotRecord } from "./format.js";
import { integrityError } from "./integrity.js";
import {
  type ArchiveEntry,
  type ArchiveReader,
  type ArchiveReadResult,
  type ArchiveSource,
  type ReadArchiveOptions,
  readArchive,
} from "./reader.js";

export interface ArchiveSummary extends ArchiveReadResult {
  readonly release?: HelmRelease;
  readonly request?: SnapshotRequestRecord;
  /** The revision entry (kv), else the manifest's revision. */
  readonly revision?: number;
  readonly vclusterConfig?: string;
  readonly volumes?: readonly VolumeSnapshotRecord[];
  /** True when the db entry carries etcd's sha256 trailer and it matched; absent when it has none. */
  readonly etcdChecksumVerified?: boolean;
}

export type VerifyArchiveOptions = ReadArchiveOptions;

/**
 * Reads a whole archive and checks it: gzip and tar structure, the manifest (count, bytes,
 * digests) when there is one, etcd's own checksum of a db entry. Throws VsnapError INTEGRITY
 * saying what is wrong; an archive without a manifest (vCluster's) passes with verified=false.
 */
export async function verifyArchive(
  source: ArchiveSource,
  options: VerifyArchiveOptions = {},
): Promise<ArchiveSummary> {
  const reader = readArchive(source, options);
  const metadata = new ArchiveMetadataCollector();
  for await (const entry of reader) await metadata.take(entry);
  return metadata.summary(reader);
}

/**
 * Reads and checks the metadata entries of an archive as they come (release, request, revision,
 * config, volumes, etcd's db checksum), for a summary once the reader has ended.
 */
export class ArchiveMetadataCollector {
  #release: HelmRelease | undefined;
  #request: SnapshotRequestRecord | undefined;
  #revision: number | undefined;
  #vclusterConfig: string | undefined;
  #volumes: VolumeSnapshotRecord[] | undefined;
  #etcdChecksumVerified: boolean | undefined;

  /** The revision entry, once met. */
  get revision(): number | undefined {
    return this.#revision;
  }

  /** Takes a metadata entry in; other entries are left to the reader, which skips and checks them. */
  async take(entry: ArchiveEntry): Promise<void> {
    switch (entry.kind) {
      case "release":
        this.#release = (await jsonEntry(entry)) as HelmRelease;
        break;
      case "request":
        this.#request = (await jsonEntry(entry)) as SnapshotRequestRecord;
        break;
      case "revision":
        this.#revision = revisionOf(await entry.bytes());
        break;
      case "config":
        this.#vclusterConfig = (await entry.bytes()).toString("utf8");
        break;
      case "volumes": {
        const value = await jsonEntry(entry);
        if (!Array.isArray(value)) {
          throw integrityError(`archive is corrupt: ${entry.name} is not a JSON array`);
        }
        this.#volumes = value as VolumeSnapshotRecord[];
        break;
      }
      case "db":
        this.#etcdChecksumVerified = await checkEtcdDb(entry);
        break;
      default:
        break;
    }
  }

  /** The summary of a reader that has ended normally (every check passed). */
  summary(reader: ArchiveReader): ArchiveSummary {
    const result = reader.result;
    if (!result) throw new VsnapError("INTERNAL", "the archive reader ended without a result");
    const revision = this.#revision ?? result.manifest?.revision;
    return {
      ...result,
      ...(this.#release && { release: this.#release }),
      ...(this.#request && { request: this.#request }),
      ...(revision !== undefined && { revision }),
      ...(this.#vclusterConfig !== undefined && { vclusterConfig: this.#vclusterConfig }),
      ...(this.#volumes && { volumes: this.#volumes }),
      ...(this.#etcdChecksumVerified !== undefined && { etcdChecksumVerified: this.#etcdChecksumVerified }),
    };
  }
}

/** The key/values of a kv archive, for a RestoreTarget; metadata entries are skipped. */
export function archiveKeyValues(entries: AsyncIterable<ArchiveEntry>): AsyncGenerator<KeyValue> {
  // each value is read out of the archive for this stream alone
  return markTransient(keyValuesOf(entries));
}

async function* keyValuesOf(entries: AsyncIterable<ArchiveEntry>): AsyncGenerator<KeyValue> {
  for await (const entry of entries) {
    if (entry.kind === "db") {
      throw new VsnapError(
        "UNSUPPORTED",
        "this archive holds an etcd db snapshot (/vcluster/snapshot/db), not key/value entries; it can be restored only into etcd",
        { hint: "restore it into an etcd backing store, or convert it to a key/value archive first" },
      );
    }
    if (entry.kind === "key") yield { key: entry.name, value: await entry.bytes() };
  }
}

async function jsonEntry(entry: ArchiveEntry): Promise<unknown> {
  try {
    return JSON.parse((await entry.bytes()).toString("utf8"));
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw integrityError(`archive is corrupt: ${entry.name} is not valid JSON`);
    }
    throw error;
  }
}

function revisionOf(data: Buffer): number {
  const text = data.toString("latin1");
  const revision = Number(text);
  if (!/^\d+$/u.test(text) || !Number.isSafeInteger(revision)) {
    throw integrityError(
      `archive is corrupt: the revision entry is not a decimal number (${JSON.stringify(text.slice(0, 40))})`,
    );
  }
  return revision;
}

const SHA256_SIZE = 32;

/**
 * etcd appends the sha256 of its db snapshot to the stream (size % 512 == 32, as etcd's own
 * client checks); when the trailer is there, check it as `etcdutl snapshot restore` would.
 */
async function checkEtcdDb(entry: ArchiveEntry): Promise<boolean | undefined> {
  if (entry.size % 512 !== SHA256_SIZE) return undefined;
  const body = entry.size - SHA256_SIZE;
  const hash = createHash("sha256");
  const trailer = Buffer.alloc(SHA256_SIZE);
  let seen = 0;
  // each chunk is hashed (or its trailer bytes copied) before the next is read
  for await (const chunk of entry.stream({ transient: true })) {
    const inBody = Math.max(0, Math.min(chunk.length, body - seen));
    if (inBody > 0) hash.update(inBody === chunk.length ? chunk : chunk.subarray(0, inBody));
    if (inBody < chunk.length) trailer.set(chunk.subarray(inBody), seen + inBody - body);
    seen += chunk.length;
  }
  if (!hash.digest().equals(trailer)) {
    throw integrityError(
      "etcd db checksum mismatch: the db entry's sha256 trailer does not match its content",
    );
  }
  return true;
}
