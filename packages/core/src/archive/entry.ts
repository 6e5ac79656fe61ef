import { VsnapError } from "../errors.js";
import {
  type ChunkReader,
  copyBuffered,
  readAll,
  readSome,
  skipBuffered,
  skipPadding,
} from "./byte-reader.js";
import type { EntryDigest } from "./digest.js";
import type { EntryKind } from "./format.js";
import { padded } from "./tar.js";

/** One entry of an archive, valid until the iteration moves on (the rest is then skipped). */
export interface ArchiveEntry {
  /** The entry name: a backing-store key, or a `/vcluster/snapshot/` metadata name. */
  readonly name: string;
  readonly kind: EntryKind;
  /** Content length in bytes. */
  readonly size: number;
  /** The whole content (a copy; up to 256 MiB). */
  bytes(): Promise<Buffer>;
  /**
   * The content in chunks, for large entries such as the etcd db. The consumer may keep the
   * chunks, unless it says `transient`: it is done with each chunk (it has written, hashed or
   * copied it) before it asks for the next one. Then the chunks are views into the decompressed
   * stream's buffers, which the reader frees as it goes instead of leaving them to V8's collector.
   */
  stream(options?: { readonly transient?: boolean }): AsyncIterable<Uint8Array>;
}

const MAX_BUFFERED_ENTRY = 256 << 20;

export type EntrySource =
  | { readonly buffered: Buffer }
  | { readonly reader: ChunkReader; readonly digest: EntryDigest };

export class Entry implements ArchiveEntry {
  readonly name: string;
  readonly kind: EntryKind;
  readonly size: number;
  readonly #source: EntrySource;
  #state: "unread" | "reading" | "done" = "unread";
  #remaining: number;
  /** The consumer's read still going on (or its last one), which `finish` must wait for. */
  #busy: Promise<unknown> | undefined;

  constructor(name: string, kind: EntryKind, size: number, source: EntrySource) {
    this.name = name;
    this.kind = kind;
    this.size = size;
    this.#source = source;
    this.#remaining = "buffered" in source ? 0 : size;
  }

  bytes(): Promise<Buffer> {
    try {
      this.#claim();
      const source = this.#source;
      if ("buffered" in source) return Promise.resolve(Buffer.from(source.buffered));
      if (this.size > MAX_BUFFERED_ENTRY) {
        throw new VsnapError(
          "UNSUPPORTED",
          `entry ${JSON.stringify(this.name)} has ${this.size} bytes; read it with stream()`,
        );
      }
      const { reader, digest } = source;
      // most keys' values are decompressed already: copied at once, with no read to wait for
      if (reader.buffered >= this.size) {
        const data = copyBuffered(reader, this.size, digest);
        this.#remaining = 0;
        return Promise.resolve(data);
      }
      const read = readAll(reader, this.size, this.name, digest).then((data) => {
        this.#remaining = 0;
        return data;
      });
      this.#busy = read.catch(() => {});
      return read;
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  stream(options: { readonly transient?: boolean } = {}): AsyncIterable<Uint8Array> {
    this.#claim();
    const transient = options.transient === true;
    const source = this.#source;
    if ("buffered" in source) {
      return (async function* () {
        yield Buffer.from(source.buffered);
      })();
    }
    const entry = this;
    return (async function* () {
      while (entry.#remaining > 0) {
        if (entry.#state === "done") {
          throw new VsnapError(
            "INVALID_ARGUMENT",
            `entry ${JSON.stringify(entry.name)} was skipped: read it before moving on`,
          );
        }
        const read = readSome(source.reader, entry.#remaining, entry.name);
        entry.#busy = read.catch(() => {});
        // a consumer that may keep what it is given gets a buffer the reader never frees
        const chunk = transient ? await read : source.reader.lend(await read);
        source.digest.content(chunk);
        entry.#remaining -= chunk.length;
        yield chunk;
      }
    })();
  }

  /**
   * Skips what the consumer left unread (still checking it), then the padding. Undefined when
   * that was done at once: a value read whole, its padding buffered (the reader's hot path).
   */
  finish(): Promise<void> | undefined {
    if (this.#busy === undefined) {
      this.#state = "done";
      const source = this.#source;
      if ("buffered" in source) return undefined;
      const pad = padded(this.size) - this.size;
      if (this.#remaining === 0 && source.reader.buffered >= pad) {
        skipBuffered(source.reader, pad);
        return undefined;
      }
    }
    return this.#finishReading();
  }

  async #finishReading(): Promise<void> {
    await this.#busy;
    this.#state = "done";
    if ("buffered" in this.#source) return;
    const { reader, digest } = this.#source;
    while (this.#remaining > 0) {
      const chunk = await readSome(reader, this.#remaining, this.name);
      digest.content(chunk);
      this.#remaining -= chunk.length;
    }
    await skipPadding(reader, this.size, this.name);
  }

  #claim(): void {
    if (this.#state === "done") {
      throw new VsnapError(
        "INVALID_ARGUMENT",
        `entry ${JSON.stringify(this.name)} was skipped: read it before moving on`,
      );
    }
    if (this.#state === "reading") {
      throw new VsnapError("INVALID_ARGUMENT", `entry ${JSON.stringify(this.name)} is already being read`);
    }
    this.#state = "reading";
  }
}
