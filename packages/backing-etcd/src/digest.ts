import { hash } from "node:crypto";

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

  /** One entry's bytes, hashed in one call (a Hash object per key cost more than the hashing). */
  #scratch = Buffer.allocUnsafeSlow(64 * 1024);

  add(key: Uint8Array, value: Uint8Array): void {
    const size = 4 + key.length + value.length;
    if (this.#scratch.length < size)
      this.#scratch = Buffer.allocUnsafeSlow(Math.max(size, this.#scratch.length * 2));
    const scratch = this.#scratch;
    scratch.writeUInt32BE(key.length, 0);
    scratch.set(key, 4);
    scratch.set(value, 4 + key.length);
    const h = hash("sha256", scratch.subarray(0, size), "buffer");
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
