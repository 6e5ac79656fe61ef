import { createHash, type Hash } from "node:crypto";

const BATCH = 64 * 1024;
const DIRECT = 16 * 1024;

/**
 * The manifest's digest: SHA-256 over every entry before the manifest, each fed as its name's
 * UTF-8 bytes, 0x00, its decimal content length, 0x00, its content. Small inputs are gathered
 * into one buffer first: a million small keys would otherwise cost three native calls each.
 */
export class EntryDigest {
  readonly #hash: Hash = createHash("sha256");
  readonly #batch = Buffer.allocUnsafe(BATCH);
  #used = 0;
  entries = 0;
  bytes = 0;

  /** Starts an entry: its name and length. Its content follows through `content`. */
  begin(name: Uint8Array, size: number): void {
    this.entries++;
    this.bytes += size;
    this.#add(name);
    const length = `\0${size}\0`;
    if (this.#used + length.length > BATCH) this.#flush();
    this.#used += this.#batch.write(length, this.#used, "latin1");
  }

  content(chunk: Uint8Array): void {
    this.#add(chunk);
  }

  digest(): string {
    this.#flush();
    return this.#hash.digest("hex");
  }

  #add(bytes: Uint8Array): void {
    if (bytes.length >= DIRECT) {
      this.#flush();
      this.#hash.update(bytes);
      return;
    }
    if (this.#used + bytes.length > BATCH) this.#flush();
    this.#batch.set(bytes, this.#used);
    this.#used += bytes.length;
  }

  #flush(): void {
    if (this.#used > 0) this.#hash.update(this.#batch.subarray(0, this.#used));
    this.#used = 0;
  }
}
