/**
 * Small, fast, seedable randomness. Every object of the demo cluster gets its own generator,
 * seeded by hashing (seed, what, where), so any bucket can be produced on its own, in any order,
 * and always comes out the same.
 */

/** Murmur3's 32-bit finaliser: a cheap, well-mixed hash step. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes a few integers (and optionally a string) to one uint32. */
export function hash32(...parts: readonly (number | string)[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    if (typeof part === "number") {
      h = fmix32(h ^ Math.imul((part | 0) ^ ((part / 0x100000000) | 0), 0xcc9e2d51));
    } else {
      for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part.charCodeAt(i), 0x01000193);
      h = fmix32(h);
    }
  }
  return h;
}

const HEX_CODES = Buffer.from("0123456789abcdef", "latin1");
// Byte -> two hex digits; concatenating these is much cheaper than Number#toString or Buffer#toString.
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

// Kubernetes' rand.String alphabet (no vowels, no ambiguous characters): pod and slice suffixes.
const KUBE_ALPHANUM = "bcdfghjklmnpqrstvwxz2456789";

/** mulberry32: one 32-bit state, good enough statistics for test data, very fast. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed | 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 0x100000000;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Log-uniform integer in [min, max]: many small, a few large (object sizes look like this). */
  logRange(min: number, max: number): number {
    return Math.round(Math.exp(Math.log(min) + this.float() * (Math.log(max) - Math.log(min))));
  }

  /** Writes `length` random lowercase hex digits into `target` at `offset`. */
  hexInto(target: Uint8Array, offset: number, length: number): void {
    for (let i = 0; i < length; i += 8) {
      let v = this.next();
      const end = Math.min(length, i + 8);
      for (let j = i; j < end; j++) {
        target[offset + j] = HEX_CODES[v & 15]!;
        v >>>= 4;
      }
    }
  }

  hex(length: number): string {
    let out = "";
    while (out.length < length) {
      const v = this.next();
      out += HEX2[v >>> 24]! + HEX2[(v >>> 16) & 255]! + HEX2[(v >>> 8) & 255]! + HEX2[v & 255]!;
    }
    return out.length === length ? out : out.slice(0, length);
  }

  /** Like Kubernetes' `rand.String(n)`, used for generated name suffixes. */
  kubeSuffix(length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) out += KUBE_ALPHANUM[this.int(KUBE_ALPHANUM.length)];
    return out;
  }

  /** A version-4 UUID string. */
  uuid(): string {
    const a = this.next();
    const b = this.next();
    const c = this.next();
    const d = this.next();
    return (
      HEX2[a >>> 24]! +
      HEX2[(a >>> 16) & 255]! +
      HEX2[(a >>> 8) & 255]! +
      HEX2[a & 255]! +
      "-" +
      HEX2[b >>> 24]! +
      HEX2[(b >>> 16) & 255]! +
      "-4" +
      HEX2[(b >>> 8) & 255]!.slice(1) +
      HEX2[b & 255]! +
      "-" +
      HEX2[((c >>> 24) & 0x3f) | 0x80]! +
      HEX2[(c >>> 16) & 255]! +
      "-" +
      HEX2[(c >>> 8) & 255]! +
      HEX2[c & 255]! +
      HEX2[d >>> 24]! +
      HEX2[(d >>> 16) & 255]! +
      HEX2[(d >>> 8) & 255]! +
      HEX2[d & 255]!
    );
  }

  /** Fills `target` with random bytes (secrets, bitmaps). */
  fill(target: Uint8Array): void {
    const words = target.length >>> 2;
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    for (let i = 0; i < words; i++) view.setUint32(i << 2, this.next(), true);
    for (let i = words << 2; i < target.length; i++) target[i] = this.next() & 0xff;
  }
}
