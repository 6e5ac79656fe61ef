import { createHash } from "node:crypto";

/**
 * An order-independent digest of a set of key/values: the lane-wise sum (mod 2^32) of each
 * entry's SHA-256 over `u32 key length ‖ key ‖ value`. Writing and reading back may see the
 * entries in different orders (a source need not sort like etcd does), yet equal sets give equal
 * digests, and any changed, missing or extra entry changes it.
 */
export class KeyValueDigest {
  readonly #lanes = new Uint32Array(8);
  #count = 0;
  #bytes = 0;

  add(key: Uint8Array, value: Uint8Array): void {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(key.length);
    const h = createHash("sha256").update(length).update(key).update(value).digest();
    for (let i = 0; i < 8; i++) this.#lanes[i] = (this.#lanes[i]! + h.readUInt32BE(i * 4)) >>> 0;
    this.#count++;
    this.#bytes += value.length;
  }

  get count(): number {
    return this.#count;
  }

  /** Value bytes added. */
  get bytes(): number {
    return this.#bytes;
  }

  hex(): string {
    const out = Buffer.allocUnsafe(32);
    for (let i = 0; i < 8; i++) out.writeUInt32BE(this.#lanes[i]!, i * 4);
    return out.toString("hex");
  }
}
