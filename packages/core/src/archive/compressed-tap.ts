import { createHash } from "node:crypto";

/**
 * Watches the compressed bytes: counts them, and hashes all but the last 64 KiB as they pass,
 * so that the digest of everything before the manifest's (small, final) gzip member can be
 * completed at the end without holding the archive.
 */
export class CompressedTap {
  static readonly KEEP = 64 * 1024;
  total = 0;
  readonly #hash = createHash("sha256");
  #hashed = 0;
  readonly #window: Buffer[] = [];
  #windowBytes = 0;
  #head: Buffer | undefined;

  push(chunk: Buffer): void {
    if (!this.#head) this.#head = Buffer.from(chunk.subarray(0, 2));
    this.total += chunk.length;
    this.#window.push(chunk);
    this.#windowBytes += chunk.length;
    if (this.#windowBytes > CompressedTap.KEEP * 4) this.#hashUpTo(this.total - CompressedTap.KEEP);
  }

  startsWithGzipMagic(): boolean {
    return (
      this.#head !== undefined && this.#head[0] === 0x1f && (this.#head.length < 2 || this.#head[1] === 0x8b)
    );
  }

  /** The digest of the first `length` bytes and the bytes after them; undefined if not at hand. */
  split(length: number): { sha256: string; tail: Buffer } | undefined {
    if (length < this.#hashed || length > this.total) return undefined;
    this.#hashUpTo(length);
    return { sha256: this.#hash.digest("hex"), tail: Buffer.concat(this.#window) };
  }

  #hashUpTo(offset: number): void {
    while (this.#hashed < offset) {
      const head = this.#window[0]!;
      const n = Math.min(head.length, offset - this.#hashed);
      this.#hash.update(n === head.length ? head : head.subarray(0, n));
      this.#hashed += n;
      this.#windowBytes -= n;
      if (n === head.length) this.#window.shift();
      else this.#window[0] = head.subarray(n);
    }
  }
}
