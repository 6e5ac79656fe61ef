/**
 * The few protobuf primitives etcd's messages need. Hand-written instead of protobufjs so that a
 * range page decodes into zero-copy `subarray`s of the response buffer (no per-key objects from a
 * reflection decoder, no `.proto` files shipped at run time).
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

const TWO_POW_32 = 2 ** 32;

/** Grows a buffer as fields are appended; `finish()` returns exactly the written bytes. */
export class ProtoWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(initialSize = 256) {
    this.#buf = Buffer.allocUnsafe(initialSize);
  }

  #ensure(extra: number): void {
    if (this.#pos + extra <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + extra));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** A non-negative integer up to 2^53 as a varint. */
  varint(value: number): this {
    this.#ensure(10);
    let lo = value >>> 0;
    let hi = Math.floor(value / TWO_POW_32);
    while (hi > 0 || lo > 0x7f) {
      this.#buf[this.#pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.#buf[this.#pos++] = lo;
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }

  /** An int64/uint64/enum field; zero is the default and is omitted, as proto3 does. */
  uint(field: number, value: number | undefined): this {
    if (!value) return this;
    if (value < 0 || !Number.isSafeInteger(value))
      throw new RangeError(`field ${field}: ${value} is not a safe non-negative integer`);
    return this.tag(field, WIRE_VARINT).varint(value);
  }

  bool(field: number, value: boolean | undefined): this {
    return value ? this.tag(field, WIRE_VARINT).varint(1) : this;
  }

  /** A bytes field (also used for embedded messages). Empty bytes are omitted. */
  bytes(field: number, value: Uint8Array | undefined): this {
    if (!value || value.length === 0) return this;
    this.tag(field, WIRE_BYTES).varint(value.length);
    this.#ensure(value.length);
    this.#buf.set(value, this.#pos);
    this.#pos += value.length;
    return this;
  }

  /** An embedded message, written even when empty (a oneof member or repeated element must be). */
  message(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_BYTES).varint(value.length);
    this.#ensure(value.length);
    this.#buf.set(value, this.#pos);
    this.#pos += value.length;
    return this;
  }

  get length(): number {
    return this.#pos;
  }

  finish(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }
}

/** Reads fields in order; `bytes()` returns views into the source buffer (no copy). */
export class ProtoReader {
  readonly #buf: Buffer;
  #pos: number;
  readonly #end: number;

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.#buf = buf;
    this.#pos = start;
    this.#end = end;
  }

  get done(): boolean {
    return this.#pos >= this.#end;
  }

  /** Where the next read starts in the buffer. */
  get position(): number {
    return this.#pos;
  }

  /** Moves past `length` bytes (a length-delimited field's body, its length already read). */
  skipBytes(length: number): void {
    if (this.#pos + length > this.#end) throw new RangeError("protobuf: truncated length-delimited field");
    this.#pos += length;
  }

  /** A varint as a number; exact up to 2^53, approximate above (only ids are that large). */
  varint(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#pos >= this.#end) throw new RangeError("protobuf: truncated varint");
      const byte = this.#buf[this.#pos++]!;
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return result;
      multiplier *= 128;
    }
    throw new RangeError("protobuf: varint longer than 10 bytes");
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wire: number } {
    const key = this.varint();
    return { field: Math.floor(key / 8), wire: key & 7 };
  }

  bytes(): Buffer {
    const length = this.varint();
    const start = this.#pos;
    const end = start + length;
    if (end > this.#end) throw new RangeError("protobuf: truncated length-delimited field");
    this.#pos = end;
    return this.#buf.subarray(start, end);
  }

  /** A sub-reader over an embedded message. */
  message(): ProtoReader {
    const length = this.varint();
    const start = this.#pos;
    if (start + length > this.#end) throw new RangeError("protobuf: truncated embedded message");
    this.#pos = start + length;
    return new ProtoReader(this.#buf, start, start + length);
  }

  string(): string {
    return this.bytes().toString("utf8");
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.#pos += 8;
        break;
      case WIRE_BYTES: {
        const length = this.varint(); // read first: it moves #pos past the length prefix
        this.#pos += length;
        break;
      }
      case WIRE_FIXED32:
        this.#pos += 4;
        break;
      default:
        throw new RangeError(`protobuf: unsupported wire type ${wire}`);
    }
    if (this.#pos > this.#end) throw new RangeError("protobuf: truncated field");
  }
}
