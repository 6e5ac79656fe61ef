import { releaseView } from "../backing.js";
import type { VsnapError } from "../errors.js";
import type { EntryDigest } from "./digest.js";
import { integrityError } from "./integrity.js";
import { padded } from "./tar.js";

/**
 * Decompressed bytes, pulled from gunzip on demand.
 *
 * gunzip writes its output into fresh `outputBufferSize` buffers and hands them out in slices,
 * moving to a new buffer once one is full. A restore moves gigabytes through them with few JS
 * objects, so V8 seldom collects, and the dead buffers piled up by ~50 MiB (docs/benchmarks.md).
 * So once the last slice of a full buffer has been read, the buffer is freed before the next
 * read: every view the reader handed out of it has been used by then (`take` and `takeUpTo` give
 * views for immediate use; entries' `bytes()` are copies), except those given away for good
 * through `lend`, whose buffers are never freed.
 */
export class ChunkReader {
  readonly #source: AsyncIterator<Buffer>;
  readonly #mapError: (error: unknown) => VsnapError;
  readonly #chunks: Buffer[] = [];
  /** 0 (never free) unless buffers of this size cannot be Node's shared Buffer pool. */
  readonly #releasable: number;
  readonly #retired: ArrayBufferLike[] = [];
  readonly #lent = new WeakSet<ArrayBufferLike>();
  #first = 0;
  buffered = 0;
  /** Bytes taken so far: the tar offset. */
  position = 0;

  constructor(
    source: AsyncIterator<Buffer>,
    mapError: (error: unknown) => VsnapError,
    /** The size of gunzip's output buffers (its `chunkSize`); 0: free nothing. */
    outputBufferSize = 0,
  ) {
    this.#source = source;
    this.#mapError = mapError;
    this.#releasable = outputBufferSize > Buffer.poolSize ? outputBufferSize : 0;
  }

  /** `view`, given away for good: the reader never frees its buffer. */
  lend<T extends Uint8Array>(view: T): T {
    this.#lent.add(view.buffer);
    return view;
  }

  /** Buffers at least `n` bytes; false when the stream ends first. */
  async fill(n: number): Promise<boolean> {
    this.#releaseRetired();
    while (this.buffered < n) {
      let next: IteratorResult<Buffer>;
      try {
        next = await this.#source.next();
      } catch (error) {
        throw this.#mapError(error);
      }
      if (next.done) return false;
      if (next.value.length > 0) {
        this.#chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
    return true;
  }

  /** Exactly `n` buffered bytes (zero-copy when they lie in one chunk). */
  take(n: number): Buffer {
    this.#releaseRetired();
    const head = this.#chunks[0]!;
    let out: Buffer;
    if (head.length - this.#first >= n) {
      out = head.subarray(this.#first, this.#first + n);
      this.#consume(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const piece = this.takeUpTo(n - at);
        piece.copy(out, at);
        at += piece.length;
      }
      return out;
    }
    return out;
  }

  /** Between 1 and `max` buffered bytes, from the current chunk. */
  takeUpTo(max: number): Buffer {
    this.#releaseRetired();
    const head = this.#chunks[0]!;
    const n = Math.min(max, head.length - this.#first);
    const out = head.subarray(this.#first, this.#first + n);
    this.#consume(n);
    return out;
  }

  #consume(n: number): void {
    this.#first += n;
    this.buffered -= n;
    this.position += n;
    const head = this.#chunks[0]!;
    if (this.#first === head.length) {
      this.#chunks.shift();
      this.#first = 0;
      const { buffer } = head;
      // the last slice of a full output buffer: gunzip has moved on, and every slice before it was read
      if (
        this.#releasable > 0 &&
        buffer.byteLength === this.#releasable &&
        head.byteOffset + head.length === buffer.byteLength &&
        !this.#lent.has(buffer)
      ) {
        this.#retired.push(buffer);
      }
    }
  }

  /** Frees the buffers read to their end, once the views taken from them are no longer in use. */
  #releaseRetired(): void {
    // (lent after it was read to its end: the view went to a consumer after all)
    for (const buffer of this.#retired) if (!this.#lent.has(buffer)) releaseView(new Uint8Array(buffer));
    this.#retired.length = 0;
  }
}

/** `size` bytes that are buffered already (`reader.buffered >= size`), copied, without waiting. */
export function copyBuffered(reader: ChunkReader, size: number, digest: EntryDigest | undefined): Buffer {
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  while (at < size) {
    const chunk = reader.takeUpTo(size - at);
    digest?.content(chunk);
    chunk.copy(out, at);
    at += chunk.length;
  }
  return out;
}

/** Drops `n` bytes that are buffered already (`reader.buffered >= n`). */
export function skipBuffered(reader: ChunkReader, n: number): void {
  while (n > 0) n -= reader.takeUpTo(n).length;
}

export async function readAll(
  reader: ChunkReader,
  size: number,
  what: string,
  digest: EntryDigest | undefined,
): Promise<Buffer> {
  if (reader.buffered >= size) return copyBuffered(reader, size, digest);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  while (at < size) {
    const chunk = await readSome(reader, size - at, what);
    digest?.content(chunk);
    chunk.copy(out, at);
    at += chunk.length;
  }
  return out;
}

/** `what`: the entry name, or EXTENDED_HEADER; made into a message only on error (hot path). */
export async function readSome(reader: ChunkReader, max: number, what: string): Promise<Buffer> {
  if (reader.buffered === 0 && !(await reader.fill(1))) {
    const inside = what === EXTENDED_HEADER ? "an extended header" : `entry ${JSON.stringify(what)}`;
    throw integrityError(`archive is truncated: the tar stream ends inside ${inside}`);
  }
  return reader.takeUpTo(max);
}

export const EXTENDED_HEADER = "";

export async function skipPadding(reader: ChunkReader, size: number, what: string): Promise<void> {
  let pad = padded(size) - size;
  while (pad > 0) pad -= (await readSome(reader, pad, what)).length;
}
