import { VsnapError } from "../errors.js";
import type { EntryDigest } from "./digest.js";
import { BLOCK, headerSize, padded, writeFileHeader } from "./tar.js";

/**
 * Builds the tar stream into fixed-size blocks. Every entry starts 512-aligned, so a plain
 * header always fits in the current block; PAX headers and content may span blocks.
 */
export class BlockBuilder {
  readonly ready: Uint8Array[] = [];
  readonly #free: ArrayBuffer[] = [];
  #block: Uint8Array;
  #at = 0;
  #remaining = 0;
  readonly #size: number;
  readonly #digest: EntryDigest | undefined;

  constructor(size: number, digest?: EntryDigest) {
    this.#size = size;
    this.#digest = digest;
    this.#block = new Uint8Array(size);
  }

  /** A whole entry (header, content, padding). */
  entry(name: string, content: Uint8Array): void {
    this.begin(name, content.length);
    this.content(content);
    this.pad();
  }

  begin(name: string, size: number): void {
    const nameBytes = Buffer.from(name, "utf8");
    this.#digest?.begin(nameBytes, size);
    if (this.#at + BLOCK <= this.#size && headerSize(name, nameBytes, size) === BLOCK) {
      writeFileHeader(this.#block, this.#at, name, nameBytes, size);
      this.#advance(BLOCK);
    } else {
      const header = new Uint8Array(headerSize(name, nameBytes, size));
      writeFileHeader(header, 0, name, nameBytes, size);
      this.#write(header);
    }
    this.#remaining = size;
  }

  content(chunk: Uint8Array): void {
    this.#digest?.content(chunk);
    this.#remaining -= chunk.length;
    this.#write(chunk);
  }

  /** Zero padding to the next 512-byte boundary, after an entry's content. */
  pad(): void {
    if (this.#remaining !== 0) throw new VsnapError("INTERNAL", "tar entry content does not match its size");
    const fill = padded(this.#at) - this.#at;
    this.#block.fill(0, this.#at, this.#at + fill);
    this.#advance(fill);
  }

  /** The tar end-of-archive marker: two zero blocks. */
  end(): void {
    this.#write(new Uint8Array(2 * BLOCK));
  }

  /** Takes back the memory of a block the compressor is done with. */
  recycle(memory: ArrayBuffer): void {
    if (memory.byteLength === this.#size && this.#free.length < 8) this.#free.push(memory);
  }

  /** The partial last block. */
  finish(): Uint8Array {
    const last = this.#block.subarray(0, this.#at);
    this.#block = new Uint8Array(0);
    this.#at = 0;
    return last;
  }

  #write(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      const n = Math.min(bytes.length - from, this.#size - this.#at);
      this.#block.set(n === bytes.length ? bytes : bytes.subarray(from, from + n), this.#at);
      from += n;
      this.#advance(n);
    }
  }

  #advance(n: number): void {
    this.#at += n;
    if (this.#at === this.#size) {
      this.ready.push(this.#block);
      // The full block goes to the compressor; continue in recycled memory (every byte of a
      // block is written before use, so old content does not matter).
      const memory = this.#free.pop();
      this.#block = memory ? new Uint8Array(memory) : new Uint8Array(this.#size);
      this.#at = 0;
    }
  }
}
