/**
 * A minimal protobuf wire-format writer, enough to produce objects the way the apiserver stores
 * them in etcd. Nested messages are written in place and their length prefix patched afterwards,
 * so a value is built in one reusable scratch buffer and copied out once.
 */

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;

export class ProtoWriter {
  private buf: Buffer;
  // The same memory as a plain Uint8Array: its slice() is several times cheaper than going through Buffer.
  private view: Uint8Array;
  private pos = 0;
  private readonly open: number[] = [];

  constructor(initialSize = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(initialSize);
    this.view = new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  get length(): number {
    return this.pos;
  }

  reset(): this {
    this.pos = 0;
    this.open.length = 0;
    return this;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const grown = Buffer.allocUnsafeSlow(size);
    grown.set(this.view.subarray(0, this.pos));
    this.buf = grown;
    this.view = new Uint8Array(grown.buffer, grown.byteOffset, grown.length);
  }

  /** Appends raw bytes (e.g. the `k8s\0` magic). */
  raw(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.view.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** Appends an ASCII/latin1 string without a tag (used for JSON values). */
  ascii(text: string): this {
    this.ensure(text.length);
    if (text.length > 24) {
      this.pos += this.buf.write(text, this.pos, "latin1");
      return this;
    }
    const buf = this.view;
    let pos = this.pos;
    for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
    this.pos = pos;
    return this;
  }

  private varint(value: number): void {
    if (value < 0x80 && value >= 0 && this.pos < this.buf.length) {
      this.view[this.pos++] = value;
      return;
    }
    this.ensure(10);
    const buf = this.view;
    let pos = this.pos;
    if (value < 0) value = 0; // the demo never writes negative numbers
    while (value >= 0x80) {
      buf[pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    buf[pos++] = value;
    this.pos = pos;
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, value: number): this {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.int(field, value ? 1 : 0);
  }

  /** A length-delimited ASCII string field (k8s writes these even when empty). */
  string(field: number, text: string): this {
    const length = text.length;
    if (field < 16 && length <= 24) {
      // the common case in one go: one-byte tag, one-byte length, a short string
      this.ensure(length + 2);
      const buf = this.view;
      let pos = this.pos;
      buf[pos++] = (field << 3) | WIRE_BYTES;
      buf[pos++] = length;
      for (let i = 0; i < length; i++) buf[pos++] = text.charCodeAt(i);
      this.pos = pos;
      return this;
    }
    this.tag(field, WIRE_BYTES);
    this.varint(text.length);
    return this.ascii(text);
  }

  strings(field: number, texts: readonly string[]): this {
    for (const text of texts) this.string(field, text);
    return this;
  }

  /** A string field of `length` random hex digits (image digests, container ids). */
  randomHex(
    field: number,
    prefix: string,
    length: number,
    rng: { hexInto(target: Uint8Array, offset: number, length: number): void },
  ): this {
    this.tag(field, WIRE_BYTES);
    this.varint(prefix.length + length);
    this.ascii(prefix);
    this.ensure(length);
    rng.hexInto(this.view, this.pos, length);
    this.pos += length;
    return this;
  }

  /** A string field written from several parts (templates without building the joined string). */
  stringParts(field: number, parts: readonly string[]): this {
    let length = 0;
    for (const part of parts) length += part.length;
    this.tag(field, WIRE_BYTES);
    this.varint(length);
    for (const part of parts) this.ascii(part);
    return this;
  }

  bytes(field: number, bytes: Uint8Array): this {
    this.tag(field, WIRE_BYTES);
    this.varint(bytes.length);
    return this.raw(bytes);
  }

  /** Starts a nested message; close it with `end()`. */
  begin(field: number): this {
    this.tag(field, WIRE_BYTES);
    this.ensure(1);
    this.open.push(this.pos);
    this.pos += 1; // one byte reserved for the length; grown in end() if needed
    return this;
  }

  end(): this {
    const start = this.open.pop();
    if (start === undefined) throw new Error("ProtoWriter.end() without begin()");
    const length = this.pos - start - 1;
    if (length < 0x80) {
      this.view[start] = length;
      return this;
    }
    let prefix = 1;
    for (let v = length; v >= 0x80; v = Math.floor(v / 0x80)) prefix++;
    this.ensure(prefix - 1);
    this.view.copyWithin(start + prefix, start + 1, this.pos);
    this.pos += prefix - 1;
    let pos = start;
    let v = length;
    while (v >= 0x80) {
      this.view[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.view[pos] = v;
    return this;
  }

  /** A `map<string,string>` entry. */
  entry(field: number, key: string, value: string): this {
    return this.begin(field).string(1, key).string(2, value).end();
  }

  /** A `map<string,bytes>` entry. */
  bytesEntry(field: number, key: string, value: Uint8Array): this {
    return this.begin(field).string(1, key).bytes(2, value).end();
  }

  /** A copy of what was written since the last `reset()`. */
  finish(): Uint8Array {
    if (this.open.length > 0) throw new Error("ProtoWriter.finish() with an unclosed message");
    // Buffer.allocUnsafe skips zero-filling and pools small values: far fewer ArrayBuffer
    // allocations (and GCs) than a slice per value.
    const copy = Buffer.allocUnsafe(this.pos);
    copy.set(this.view.subarray(0, this.pos));
    return copy;
  }
}
