import { isUtf8 } from "node:buffer";
import { once } from "node:events";
import { addAbortSignal } from "node:stream";
import { createGunzip } from "node:zlib";
import { releaseView } from "../backing.js";
import { isAbortError, throwIfAborted, VsnapError } from "../errors.js";
import { isTransient } from "../transient.js";
import { ChunkReader, EXTENDED_HEADER, readAll, skipPadding } from "./byte-reader.js";
import { CompressedTap } from "./compressed-tap.js";
import { EntryDigest } from "./digest.js";
import { type ArchiveEntry, Entry } from "./entry.js";
import { type ArchiveManifest, DB_ENTRY, entryKind, RELEASE_ENTRY, REQUEST_ENTRY_PREFIX } from "./format.js";
import { parseStoredGzipMember } from "./gzip.js";
import { integrityError } from "./integrity.js";
import { parseManifest } from "./manifest.js";
import { pushedChunks } from "./pushed-chunks.js";
import {
  BLOCK,
  isZeroBlock,
  MAX_SPECIAL_FILE_SIZE,
  parseHeader,
  parsePaxRecords,
  TarFormatError,
} from "./tar.js";

export type { ArchiveEntry } from "./entry.js";

/** The archive's bytes: a stream, or any (async) iterable of chunks. */
export type ArchiveSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface ReadProgress {
  /** Entries met so far. */
  readonly entries: number;
  /** Key entries met so far. */
  readonly keys: number;
  /** Content bytes of the entries met so far. */
  readonly bytes: number;
  /** Compressed archive bytes read so far. */
  readonly compressedBytes: number;
  readonly totalCompressedBytes?: number;
}

export interface ReadArchiveOptions {
  readonly signal?: AbortSignal;
  /** Called per chunk read from the source; throttle in the caller if needed. */
  readonly onProgress?: (progress: ReadProgress) => void;
  /** The archive's size when known, passed through to `onProgress`. */
  readonly totalCompressedBytes?: number;
}

/** What a complete read established. */
export interface ArchiveReadResult {
  /** vCluster's kind detection: "db" when the db entry follows the release/request entries. */
  readonly mode: "kv" | "db";
  readonly manifest?: ArchiveManifest;
  /** True when the archive has a manifest and everything it states was checked and matched. */
  readonly verified: boolean;
  /** Entries before the manifest, as the manifest counts them. */
  readonly entries: number;
  readonly keys: number;
  /** Content bytes of the entries before the manifest. */
  readonly bytes: number;
  /** The manifest-style digest of the entries before the manifest. */
  readonly sha256: string;
  readonly compressedBytes: number;
}

export interface ArchiveReader extends AsyncIterable<ArchiveEntry> {
  /** Set when iteration has ended normally, i.e. after every check passed. */
  readonly result: ArchiveReadResult | undefined;
}

/**
 * Reads a snapshot archive (vsnap's or vCluster's), streaming. Accepts any gzip level, several
 * gzip members, USTAR prefixes, PAX headers and GNU long names. When the iteration ends normally
 * the archive has been checked whole: gzip checksums, tar structure and end marker, no trailing
 * data, and the manifest when there is one. Otherwise the iteration throws VsnapError INTEGRITY.
 * Single use.
 */
export function readArchive(source: ArchiveSource, options: ReadArchiveOptions = {}): ArchiveReader {
  return new TarGzReader(source, options);
}

const MAX_MANIFEST_SIZE = 1 << 20;
/** gunzip's output buffer size: the decompressed bytes arrive in slices of buffers this large. */
const GUNZIP_CHUNK = 128 * 1024;
/**
 * How far inflate (on libuv's pool) may run ahead of the reader. Read as the stream's async
 * iterator reads, it stopped after each 128 KiB buffer until the reader asked for more (Node's
 * default high-water mark is 64 KiB), and the two took turns more than they overlapped.
 */
const GUNZIP_AHEAD = 1024 * 1024;
class TarGzReader implements ArchiveReader {
  result: ArchiveReadResult | undefined;
  readonly #source: ArchiveSource;
  readonly #options: ReadArchiveOptions;
  readonly #tap = new CompressedTap();
  #started = false;
  readonly #stats = { entries: 0, keys: 0, bytes: 0 };

  constructor(source: ArchiveSource, options: ReadArchiveOptions) {
    this.#source = source;
    this.#options = options;
  }

  [Symbol.asyncIterator](): AsyncIterator<ArchiveEntry> {
    if (this.#started) {
      throw new VsnapError("INVALID_ARGUMENT", "an archive reader can be iterated only once");
    }
    this.#started = true;
    return this.#entries();
  }

  /** Starts gunzip and its feeder: the decompressed tar, and how to report and to let go. */
  #start(): { reader: ChunkReader; report: () => void; stop: () => void } {
    const { signal } = this.#options;
    throwIfAborted(signal, "reading the snapshot archive");
    const tap = this.#tap;
    const options = this.#options;
    const stats = this.#stats;
    const report = () =>
      options.onProgress?.({
        ...stats,
        compressedBytes: tap.total,
        ...(options.totalCompressedBytes === undefined
          ? {}
          : { totalCompressedBytes: options.totalCompressedBytes }),
      });
    const transient = isTransient(this.#source);
    const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK });
    if (signal) addAbortSignal(signal, gunzip);
    // Feeds gunzip with backpressure; stops (closing the source) once the reading side is gone.
    const stop = new AbortController();
    const feeder = (async () => {
      try {
        for await (const chunk of this.#source) {
          if (stop.signal.aborted) return;
          const buffer = Buffer.isBuffer(chunk)
            ? chunk
            : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          tap.push(buffer);
          report();
          // a marked source's chunk is freed once gunzipped: the tap keeps copies, not chunks
          const consumed = transient ? () => releaseView(buffer) : undefined;
          if (!gunzip.write(buffer, consumed)) await once(gunzip, "drain", { signal: stop.signal });
        }
        gunzip.end();
      } catch (error) {
        if (!stop.signal.aborted) gunzip.destroy(error as Error);
      }
    })();
    const reader: ChunkReader = new ChunkReader(
      pushedChunks(gunzip, GUNZIP_AHEAD),
      (error): VsnapError => this.#sourceError(error, reader),
      GUNZIP_CHUNK,
    );
    return {
      reader,
      report,
      stop: () => {
        stop.abort();
        gunzip.destroy();
        void feeder;
      },
    };
  }

  /** One generator from gunzip to the entries: each layer of async iteration costs every entry. */
  async *#entries(): AsyncGenerator<ArchiveEntry> {
    const { reader, report, stop } = this.#start();
    try {
      const digest = new EntryDigest();
      const firstNames: string[] = [];
      let keys = 0;
      let sawDb = false;
      let manifest: { data: Buffer; at: number } | undefined;
      let pendingPath: Buffer | undefined;
      let pendingSize: number | undefined;
      let entryAt = -1;
      const signal = this.#options.signal;

      for (;;) {
        const at = reader.position;
        if (entryAt < 0) entryAt = at;
        if (reader.buffered < BLOCK && !(await reader.fill(BLOCK))) {
          throw reader.buffered > 0 || entryAt !== at
            ? integrityError(`archive is truncated: the tar stream ends inside a header at offset ${at}`)
            : integrityError(
                `archive is truncated: the tar end-of-archive marker is missing after ${this.#stats.entries} entries`,
              );
        }
        const block = reader.take(BLOCK);
        if (isZeroBlock(block)) {
          if (entryAt !== at) {
            throw integrityError(`archive is corrupt: an extended header at offset ${entryAt} has no entry`);
          }
          await this.#readEnd(reader);
          break;
        }
        let header: ReturnType<typeof parseHeader>;
        try {
          header = parseHeader(block);
        } catch (error) {
          if (error instanceof TarFormatError) {
            throw integrityError(`archive is corrupt: ${error.message} at tar offset ${at}`);
          }
          throw error;
        }
        if (header.type === "pax" || header.type === "pax-global") {
          const records = parsePax(await this.#special(reader, header.size, at));
          if (header.type === "pax") {
            pendingPath = records.get("path") ?? pendingPath;
            const size = records.get("size");
            if (size !== undefined) pendingSize = paxSize(size, at);
          }
          continue;
        }
        if (header.type === "gnu-long-name" || header.type === "gnu-long-link") {
          const data = await this.#special(reader, header.size, at);
          if (header.type === "gnu-long-name") {
            const nul = data.indexOf(0);
            pendingPath = nul < 0 ? data : data.subarray(0, nul);
          }
          continue;
        }
        if (header.type === "other") {
          const name = header.name.toString("utf8");
          throw new VsnapError(
            "UNSUPPORTED",
            `archive entry ${JSON.stringify(name)} has tar type '${String.fromCharCode(header.typeflag)}'; a snapshot archive holds only regular files`,
            { hint: "this is not a vsnap or vCluster snapshot archive" },
          );
        }

        const rawName = pendingPath ?? header.name;
        const size = pendingSize ?? header.size;
        pendingPath = undefined;
        pendingSize = undefined;
        const name = decodeName(rawName, at);
        if (manifest) {
          throw integrityError(`data after the manifest: entry ${JSON.stringify(name)} follows it`);
        }
        const kind = entryKind(name);
        if (firstNames.length < 3) firstNames.push(name);
        this.#stats.entries++;
        throwIfAborted(signal, "reading the snapshot archive");

        if (kind === "manifest") {
          if (size > MAX_MANIFEST_SIZE) {
            throw integrityError(`archive is corrupt: the manifest claims ${size} bytes`);
          }
          const data = await readAll(reader, size, name, undefined);
          await skipPadding(reader, size, name);
          manifest = { data, at: entryAt };
          entryAt = -1;
          yield new Entry(name, kind, size, { buffered: data });
          continue;
        }
        if (kind === "db") {
          if (sawDb) throw integrityError(`archive is corrupt: it holds more than one ${DB_ENTRY} entry`);
          sawDb = true;
        }
        if (kind === "key") {
          keys++;
          this.#stats.keys++;
        }
        this.#stats.bytes += size;
        digest.begin(rawName, size);
        const entry = new Entry(name, kind, size, { reader, digest });
        yield entry;
        const finishing = entry.finish();
        if (finishing) await finishing;
        entryAt = -1;
      }

      this.result = this.#conclude(reader.position, digest, keys, firstNames, manifest);
      // the last chunk was reported before its entries were read: the final count, once
      report();
    } finally {
      stop();
    }
  }

  /** The checks at the end of the tar stream: the manifest, when there is one, against the entries. */
  #conclude(
    tarEnd: number,
    digest: EntryDigest,
    keys: number,
    firstNames: readonly string[],
    manifest: { data: Buffer; at: number } | undefined,
  ): ArchiveReadResult {
    const sha256 = digest.digest();
    const mode = archiveMode(firstNames);
    const base = {
      mode,
      entries: digest.entries,
      keys,
      bytes: digest.bytes,
      sha256,
      compressedBytes: this.#tap.total,
    };
    if (!manifest) {
      return { ...base, verified: false };
    }
    const parsed = parseManifest(manifest.data);
    if (parsed.entries !== digest.entries) {
      throw integrityError(
        `entry count mismatch: manifest says ${parsed.entries}, archive has ${digest.entries}`,
      );
    }
    if (parsed.keys !== keys) {
      throw integrityError(`key count mismatch: manifest says ${parsed.keys}, archive has ${keys}`);
    }
    if (parsed.bytes !== digest.bytes) {
      throw integrityError(
        `content size mismatch: manifest says ${parsed.bytes} bytes, archive has ${digest.bytes}`,
      );
    }
    if (parsed.sha256 !== sha256) {
      throw integrityError("manifest digest mismatch: archive entries were modified");
    }
    if (parsed.mode !== mode) {
      throw integrityError(
        `manifest says this is a ${parsed.mode} archive, but its entries are laid out as ${mode}`,
      );
    }
    if (parsed.compressed) this.#checkCompressed(parsed.compressed, tarEnd - manifest.at);
    return { ...base, manifest: parsed, verified: true };
  }

  /** The gzip bytes before the manifest's member must be those written, and that member exact. */
  #checkCompressed(expected: { bytes: number; sha256: string }, manifestTarBytes: number): void {
    const split = this.#tap.split(expected.bytes);
    const recompressed = "; its entries are intact, so it may have been recompressed";
    if (!split) {
      throw integrityError(
        `compressed data mismatch: the manifest's gzip member does not start at byte ${expected.bytes}${recompressed}`,
      );
    }
    if (split.sha256 !== expected.sha256) {
      throw integrityError(
        `compressed data digest mismatch: the archive's bytes were modified after writing${recompressed}`,
      );
    }
    const member = parseStoredGzipMember(split.tail);
    if ("error" in member) throw integrityError(`compressed data mismatch: ${member.error}`);
    if (member.data.length !== manifestTarBytes) {
      throw integrityError(
        "compressed data mismatch: the manifest's gzip member does not hold exactly the manifest",
      );
    }
  }

  /** After the first zero block: only zeros may follow (a second zero block, record padding). */
  async #readEnd(reader: ChunkReader): Promise<void> {
    for (;;) {
      if (reader.buffered === 0 && !(await reader.fill(1))) return;
      const chunk = reader.takeUpTo(ZEROS.length);
      if (!chunk.equals(ZEROS.subarray(0, chunk.length))) {
        throw integrityError("archive is corrupt: data after the tar end-of-archive marker");
      }
    }
  }

  async #special(reader: ChunkReader, size: number, at: number): Promise<Buffer> {
    if (size > MAX_SPECIAL_FILE_SIZE) {
      throw integrityError(`archive is corrupt: an extended header at offset ${at} claims ${size} bytes`);
    }
    const data = await readAll(reader, size, EXTENDED_HEADER, undefined);
    await skipPadding(reader, size, EXTENDED_HEADER);
    return data;
  }

  #sourceError(error: unknown, reader: ChunkReader): VsnapError {
    if (VsnapError.is(error)) return error;
    if (isAbortError(error)) {
      return new VsnapError("ABORTED", "reading the snapshot archive was aborted", {
        cause: this.#options.signal?.reason,
      });
    }
    const zlib = error as { code?: unknown; errno?: unknown; message?: string };
    if (typeof zlib.errno === "number" && typeof zlib.code === "string" && zlib.code.startsWith("Z_")) {
      if (zlib.code === "Z_BUF_ERROR") {
        return integrityError(
          `archive is truncated: gzip stream ended unexpectedly after ${this.#tap.total} bytes`,
        );
      }
      if (
        reader.position === 0 &&
        reader.buffered === 0 &&
        this.#tap.total > 0 &&
        !this.#tap.startsWithGzipMagic()
      ) {
        return integrityError(
          "archive is not gzip-compressed: it does not start with the gzip signature",
          "this is not a snapshot archive",
        );
      }
      return integrityError(
        `archive is corrupt: gzip data error (${zlib.message}) within the first ${this.#tap.total} bytes`,
      );
    }
    return VsnapError.wrap(error, "UNAVAILABLE", "reading the snapshot archive");
  }
}

const ZEROS = Buffer.alloc(64 * 1024);

function parsePax(data: Buffer): Map<string, Buffer> {
  try {
    return parsePaxRecords(data);
  } catch (error) {
    if (error instanceof TarFormatError) throw integrityError(`archive is corrupt: ${error.message}`);
    throw error;
  }
}

function paxSize(value: Buffer, at: number): number {
  const text = value.toString("latin1");
  const size = Number(text);
  if (!/^\d+$/u.test(text) || !Number.isSafeInteger(size)) {
    throw integrityError(`archive is corrupt: invalid PAX size at tar offset ${at}`);
  }
  return size;
}

function decodeName(raw: Buffer, at: number): string {
  if (raw.length === 0) throw integrityError(`archive is corrupt: an entry at tar offset ${at} has no name`);
  if (!isUtf8(raw)) {
    throw new VsnapError("UNSUPPORTED", `the entry name at tar offset ${at} is not valid UTF-8`, {
      hint: "vsnap handles keys as Unicode text; this archive holds a key it cannot represent",
    });
  }
  return raw.toString("utf8");
}

/** vCluster's getSnapshotArchiveKind: [release], [request*], then db means "db"; all else "kv". */
function archiveMode(names: readonly string[]): "kv" | "db" {
  let i = 0;
  if (names[i] === RELEASE_ENTRY) i++;
  if (names[i]?.startsWith(REQUEST_ENTRY_PREFIX)) i++;
  return names[i] === DB_ENTRY ? "db" : "kv";
}
