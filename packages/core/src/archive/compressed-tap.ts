import { createHash } from "node:crypto";

/**
 * Watches the compressed bytes: counts them, and hashes all but the last 64 KiB as they pass,
 * so that the digest of everything before the manifest's (small, final) gzip member can be
 * completed at the end without holding the archive. The unhashed tail is a copy, never the
 * caller's chunk, so a chunk can be freed as soon as gunzip is done with it.
 */
export class CompressedTap {
  static readonly KEEP = 64 * 1024;
  total = 0;
  readonly #hash = createHash("sha256");
  /** The latest bytes, not hashed yet: at least KEEP of them (or all, while fewer have passed). */
  readonly #tail = Buffer.allocUnsafe(4 * CompressedTap.KEEP);
  #tailLength = 0;
  #head: Buffer | undefined;

  push(chunk: Buffer): void {
    if (!this.#head) this.#head = Buffer.from(chunk.subarray(0, 2));
    this.total += chunk.length;
    const keep = CompressedTap.KEEP;
    if (chunk.length >= keep) {
      this.#hash.update(this.#tail.subarray(0, this.#tailLength));
      this.#hash.update(chunk.subarray(0, chunk.length - keep));
      chunk.copy(this.#tail, 0, chunk.length - keep);
      this.#tailLength = keep;
      return;
    }
    if (this.#tailLength + chunk.length > this.#tail.length) {
      // hash all but the last KEEP bytes and move those to the front: once per 128+ KiB of small chunks
      const drop = this.#tailLength - keep;
      this.#hash.update(this.#tail.subarray(0, drop));
      this.#tail.copyWithin(0, drop, this.#tailLength);
      this.#tailLength = keep;
    }
    chunk.copy(this.#tail, this.#tailLength);
    this.#tailLength += chunk.length;
  }

  startsWithGzipMagic(): boolean {
    return (
      this.#head !== undefined && this.#head[0] === 0x1f && (this.#head.length < 2 || this.#head[1] === 0x8b)
    );
  }

  /** The digest of the first `length` bytes and the bytes after them; undefined if not at hand. */
  split(length: number): { sha256: string; tail: Buffer } | undefined {
    const hashed = this.total - this.#tailLength;
    if (length < hashed || length > this.total) return undefined;
    const at = length - hashed;
    this.#hash.update(this.#tail.subarray(0, at));
    return { sha256: this.#hash.digest("hex"), tail: Buffer.from(this.#tail.subarray(at, this.#tailLength)) };
  }
}
