import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type { ReadPoint } from "../backing.js";
import { isAbortError, VsnapError } from "../errors.js";
import { BlockBuilder } from "./block-builder.js";
import { type CompressionMode, createCompressor, defaultCompressionMode } from "./compress.js";
import { EntryDigest } from "./digest.js";
import {
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_VERSION,
  type ArchiveManifest,
  type ArchiveMetadata,
  CONFIG_ENTRY,
  DB_ENTRY,
  DEFAULT_COMPRESSION_LEVEL,
  type HelmRelease,
  MANIFEST_ENTRY,
  RELEASE_ENTRY,
  REQUEST_ENTRY,
  REVISION_ENTRY,
  SNAPSHOT_PREFIX,
  VOLUMES_ENTRY,
} from "./format.js";
import { storedGzipMember } from "./gzip.js";
import { BLOCK } from "./tar.js";

export interface ArchiveProgress {
  /** Keys written so far (kv mode). */
  readonly keys: number;
  /** Value bytes (kv) or db bytes (db) read from the read point so far. */
  readonly bytes: number;
  readonly totalKeys?: number;
  readonly totalBytes?: number;
  /** Compressed bytes produced so far. */
  readonly compressedBytes: number;
}

export interface WriteArchiveOptions {
  readonly readPoint: ReadPoint;
  readonly metadata?: ArchiveMetadata;
  /** vsnap's version, recorded in the manifest. */
  readonly toolVersion: string;
  /** gzip level 1-9; default 3, as vCluster. */
  readonly compressionLevel?: number;
  /** `parallel` deflates blocks on every core (default with more than one core); `single` on one. */
  readonly compression?: CompressionMode;
  /** Tar bytes per parallel gzip member (a multiple of 512); default 1 MiB. */
  readonly blockSize?: number;
  readonly signal?: AbortSignal;
  /** Called once per block and at the end; throttle in the caller if needed. */
  readonly onProgress?: (progress: ArchiveProgress) => void;
}

export interface ArchiveWriter {
  /** The .tar.gz bytes. Errors (source failure, abort) arrive as a VsnapError on the stream. */
  readonly stream: Readable;
  /** The manifest, once the stream has ended; rejects with the stream's error. */
  readonly done: Promise<ArchiveManifest>;
}

const DEFAULT_BLOCK_SIZE = 1 << 20;

/** Writes a read point as a snapshot archive, streaming, with backpressure. */
export function writeArchive(options: WriteArchiveOptions): ArchiveWriter {
  const level = options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `compression level must be an integer from 1 to 9, got ${level}`,
    );
  }
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (
    !Number.isInteger(blockSize) ||
    blockSize < 16 * BLOCK ||
    blockSize % BLOCK !== 0 ||
    blockSize > 64 << 20
  ) {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `block size must be a multiple of 512 from 8 KiB to 64 MiB, got ${blockSize}`,
    );
  }
  const mode = options.compression ?? defaultCompressionMode();
  if (mode !== "parallel" && mode !== "single") {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `compression must be "parallel" or "single", got ${String(mode)}`,
    );
  }

  // `internal` stops the producer when the stream is destroyed for any reason (consumer gone,
  // abort, error); the caller's signal destroys the stream.
  const internal = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, internal.signal]) : internal.signal;
  let wake: (() => void) | undefined;
  const stream = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      wake?.();
    },
    destroy(error, callback) {
      internal.abort(error ?? new VsnapError("ABORTED", "the archive stream was closed before it ended"));
      wake?.();
      callback(error);
    },
  });
  const onAbort = () =>
    stream.destroy(
      new VsnapError("ABORTED", "writing the snapshot archive was aborted", {
        cause: options.signal?.reason,
      }),
    );
  options.signal?.addEventListener("abort", onAbort, { once: true });

  let manifest: ArchiveManifest | undefined;
  const produce = async () => {
    const chunks = archiveChunks(options, level, blockSize, mode, signal, (m) => {
      manifest = m;
    });
    for await (const chunk of chunks) {
      if (stream.destroyed) return;
      if (!stream.push(chunk)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      if (stream.destroyed) return;
    }
    stream.push(null);
  };
  if (options.signal?.aborted) {
    queueMicrotask(onAbort);
  } else {
    produce().catch((error: unknown) => {
      if (!stream.destroyed) stream.destroy(toWriteError(error, signal));
    });
  }

  const done = finished(stream).then(
    () => {
      options.signal?.removeEventListener("abort", onAbort);
      if (!manifest) throw new VsnapError("INTERNAL", "the archive ended without a manifest");
      return manifest;
    },
    (error: unknown) => {
      options.signal?.removeEventListener("abort", onAbort);
      throw toWriteError(error, signal);
    },
  );
  done.catch(() => {}); // the stream reports the error too; do not let an unawaited `done` crash
  return { stream, done };
}

function toWriteError(error: unknown, signal: AbortSignal): VsnapError {
  if (VsnapError.is(error)) return error;
  if (isAbortError(error) || (error as { code?: unknown })?.code === "ERR_STREAM_PREMATURE_CLOSE") {
    const reason: unknown = signal.reason;
    if (VsnapError.is(reason)) return reason;
    return new VsnapError("ABORTED", "the archive stream was closed before it ended", { cause: error });
  }
  return VsnapError.wrap(error, "INTERNAL", "writing the snapshot archive");
}

/** The archive's gzip bytes: the compressed tar up to the manifest, then the manifest's member. */
async function* archiveChunks(
  options: WriteArchiveOptions,
  level: number,
  blockSize: number,
  mode: CompressionMode,
  signal: AbortSignal,
  onManifest: (manifest: ArchiveManifest) => void,
): AsyncGenerator<Buffer> {
  const state: ProducerState = { keys: 0, bytes: 0, compressedBytes: 0, digest: new EntryDigest() };
  const compressed = createHash("sha256");
  const compress = createCompressor(mode, level);
  const out = new BlockBuilder(blockSize, state.digest);
  for await (const member of compress(tarBlocks(options, out, signal, state), signal, (memory) =>
    out.recycle(memory),
  )) {
    compressed.update(member);
    state.compressedBytes += member.length;
    yield member;
  }
  const { readPoint } = options;
  const manifest: ArchiveManifest = {
    format: ARCHIVE_FORMAT,
    formatVersion: ARCHIVE_FORMAT_VERSION,
    toolVersion: options.toolVersion,
    createdAt: new Date().toISOString(),
    backingStore: readPoint.kind,
    mode: readPoint.mode,
    revision: readPoint.revision,
    entries: state.digest.entries,
    keys: state.keys,
    bytes: state.digest.bytes,
    sha256: state.digest.digest(),
    compressed: { bytes: state.compressedBytes, sha256: compressed.digest("hex") },
  };
  const tail = new BlockBuilder(BLOCK * 4);
  tail.entry(MANIFEST_ENTRY, Buffer.from(JSON.stringify(manifest)));
  tail.end();
  const member = storedGzipMember(Buffer.concat([...tail.ready, tail.finish()]));
  state.compressedBytes += member.length;
  reportProgress(options, state);
  onManifest(manifest);
  yield member;
}

interface ProducerState {
  keys: number;
  bytes: number;
  compressedBytes: number;
  readonly digest: EntryDigest;
}

function reportProgress(options: WriteArchiveOptions, state: ProducerState): void {
  const totals = options.readPoint.totals;
  options.onProgress?.({
    keys: state.keys,
    bytes: state.bytes,
    ...(totals.keys === undefined ? {} : { totalKeys: totals.keys }),
    ...(totals.bytes === undefined ? {} : { totalBytes: totals.bytes }),
    compressedBytes: state.compressedBytes,
  });
}

/** The tar stream before the manifest, in blocks of `blockSize` bytes (the last one shorter). */
async function* tarBlocks(
  options: WriteArchiveOptions,
  out: BlockBuilder,
  signal: AbortSignal,
  state: ProducerState,
): AsyncGenerator<Uint8Array> {
  const { readPoint, metadata = {} } = options;
  const flush = function* () {
    if (out.ready.length === 0) return;
    reportProgress(options, state);
    while (out.ready.length > 0) yield out.ready.shift()!;
  };

  if (metadata.release) out.entry(RELEASE_ENTRY, json(releaseJson(metadata.release)));
  if (metadata.request) out.entry(REQUEST_ENTRY, json(metadata.request));
  if (readPoint.mode === "kv") {
    out.entry(REVISION_ENTRY, Buffer.from(String(readPoint.revision)));
    yield* flush();
    // The block builder copies each value: the source may free it once the next is asked for.
    for await (const { key, value } of readPoint.entries(signal, { transient: true })) {
      // Keys under the metadata prefix would be mistaken for archive metadata: never archive them.
      if (key.startsWith(SNAPSHOT_PREFIX)) continue;
      checkKey(key);
      out.entry(key, value);
      state.keys++;
      state.bytes += value.length;
      if (out.ready.length > 0) {
        signal.throwIfAborted();
        yield* flush();
      }
    }
  } else {
    // each chunk is copied into a tar block before the next is asked for
    const { size, chunks } = await readPoint.database(signal, { transient: true });
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new VsnapError("INTERNAL", `the db read point announced an invalid size: ${size}`);
    }
    out.begin(DB_ENTRY, size);
    let seen = 0;
    for await (const chunk of chunks) {
      seen += chunk.length;
      if (seen > size) {
        throw new VsnapError(
          "UNAVAILABLE",
          `the etcd db stream delivered more than the ${size} bytes it announced`,
        );
      }
      out.content(chunk);
      state.bytes += chunk.length;
      if (out.ready.length > 0) {
        signal.throwIfAborted();
        yield* flush();
      }
    }
    if (seen !== size) {
      throw new VsnapError(
        "UNAVAILABLE",
        `the etcd db stream ended after ${seen} of the ${size} bytes it announced`,
        {
          hint: "the connection to etcd was probably lost; retry the snapshot",
        },
      );
    }
    out.pad();
  }
  if (metadata.vclusterConfig !== undefined) out.entry(CONFIG_ENTRY, Buffer.from(metadata.vclusterConfig));
  if (metadata.volumes !== undefined) out.entry(VOLUMES_ENTRY, json(metadata.volumes));
  yield* flush();
  signal.throwIfAborted();
  const last = out.finish();
  if (last.length > 0) yield last;
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** vCluster's HelmRelease JSON, fields in Go's order. */
function releaseJson(release: HelmRelease): HelmRelease {
  const { releaseName, releaseNamespace, chartName, chartVersion, values } = release;
  return {
    releaseName,
    releaseNamespace,
    chartName,
    chartVersion,
    ...(values === undefined ? {} : { values }),
  };
}

// ES2024's String.prototype.isWellFormed (Node >= 20); the shared tsconfig targets ES2023 libs.
type WellFormedCheck = string & { isWellFormed(): boolean };

function checkKey(key: string): void {
  if (key.length === 0) throw new VsnapError("INVALID_ARGUMENT", "the backing store returned an empty key");
  if (key.includes("\0")) {
    throw new VsnapError(
      "UNSUPPORTED",
      `key ${JSON.stringify(key)} contains a NUL byte, which no tar format can carry`,
    );
  }
  if (!(key as WellFormedCheck).isWellFormed()) {
    throw new VsnapError(
      "UNSUPPORTED",
      `key ${JSON.stringify(key)} is not valid Unicode and cannot be archived faithfully`,
    );
  }
}
