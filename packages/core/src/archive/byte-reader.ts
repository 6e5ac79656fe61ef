import type { VsnapError } from "../errors.js";
import type { EntryDigest } from "./digest.js";
import { integrityError } from "./integrity.js";
import { padded } from "./tar.js";

/** Decompressed bytes, pulled from gunzip on demand. */
export class ChunkReader {
  readonly #source: AsyncIterator<Buffer>;
  readonly #mapError: (error: unknown) => VsnapError;
  readonly #chunks: Buffer[] = [];
  #first = 0;
  buffered = 0;
  /** Bytes taken so far: the tar offset. */
  position = 0;

  constructor(source: AsyncIterator<Buffer>, mapError: (error: unknown) => VsnapError) {
    this.#source = source;
    this.#mapError = mapError;
  }

  /** Buffers at least `n` bytes; false when the stream ends first. */
  async fill(n: number): Promise<boolean> {
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
    if (this.#first === this.#chunks[0]!.length) {
      this.#chunks.shift();
      this.#first = 0;
    }
  }
}

export async function readAll(
  reader: ChunkReader,
  size: number,
  what: string,
  digest: EntryDigest | undefined,
): Promise<Buffer> {
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
