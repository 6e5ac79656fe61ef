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
    // NUL, decimal length, NUL, written by hand: a native string write per entry costs more.
    if (this.#used + 18 > BATCH) this.#flush();
    const batch = this.#batch;
    batch[this.#used++] = 0;
    let digits = 1;
    for (let n = size; n >= 10; n = Math.floor(n / 10)) digits++;
    for (let i = digits - 1, n = size; i >= 0; i--, n = Math.floor(n / 10))
      batch[this.#used + i] = 0x30 + (n % 10);
    this.#used += digits;
    batch[this.#used++] = 0;
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
