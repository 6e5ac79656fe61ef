/**
 * The subset of etcd's v3 API (etcdserverpb, mvccpb) that vsnap speaks, encoded by hand. Field
 * numbers are those of etcd's `rpc.proto` and `kv.proto`, stable since v3.0.
 */
import { releaseView } from "@vsnap/core";
import { ProtoReader, ProtoWriter, WIRE_BYTES } from "./protobuf.js";

export interface Header {
  readonly revision: number;
  readonly memberId: number;
}

export interface EtcdKeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export interface RangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly limit?: number;
  /** 0 = the latest revision. */
  readonly revision?: number;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
}

export interface RangeResponse {
  readonly header: Header;
  readonly kvs: EtcdKeyValue[];
  readonly more: boolean;
  readonly count: number;
}

export interface PutRequest {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface DeleteRangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
}

export type RequestOp =
  | { readonly range: RangeRequest }
  | { readonly put: PutRequest }
  | { readonly deleteRange: DeleteRangeRequest };

export type ResponseOp =
  | { readonly range: RangeResponse }
  | { readonly put: { readonly header: Header } }
  | { readonly deleteRange: { readonly header: Header; readonly deleted: number } };

export interface TxnResponse {
  readonly header: Header;
  readonly succeeded: boolean;
  readonly responses: ResponseOp[];
}

export interface StatusResponse {
  readonly header: Header;
  readonly version: string;
  readonly dbSize: number;
  readonly raftIndex: number;
}

export interface SnapshotResponse {
  readonly remainingBytes: number;
  readonly blob: Buffer;
}

const EMPTY: Buffer = Buffer.alloc(0);
const EMPTY_HEADER: Header = { revision: 0, memberId: 0 };

// ---- requests -------------------------------------------------------------------------------

export function encodeRangeRequest(r: RangeRequest): Buffer {
  return new ProtoWriter(64 + r.key.length * 2)
    .bytes(1, r.key)
    .bytes(2, r.rangeEnd)
    .uint(3, r.limit)
    .uint(4, r.revision)
    .bool(8, r.keysOnly)
    .bool(9, r.countOnly)
    .finish();
}

export function encodePutRequest(r: PutRequest): Buffer {
  return new ProtoWriter(16 + r.key.length + r.value.length).bytes(1, r.key).bytes(2, r.value).finish();
}

export function encodeDeleteRangeRequest(r: DeleteRangeRequest): Buffer {
  return new ProtoWriter(16 + r.key.length * 2).bytes(1, r.key).bytes(2, r.rangeEnd).finish();
}

/** Size of a Put op inside a Txn, to keep a batch under etcd's request size limit. */
export function putOpSize(key: Uint8Array, value: Uint8Array): number {
  return key.length + value.length + 16;
}

/** A Txn without compares: every op in `success`, applied atomically at one new revision. */
export function encodeTxnRequest(ops: readonly RequestOp[]): Buffer {
  const w = new ProtoWriter(1024);
  for (const op of ops) {
    const inner = new ProtoWriter(64);
    if ("range" in op) inner.message(1, encodeRangeRequest(op.range));
    else if ("put" in op) inner.message(2, encodePutRequest(op.put));
    else inner.message(3, encodeDeleteRangeRequest(op.deleteRange));
    w.message(2, inner.finish());
  }
  return w.finish();
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * `encodeTxnRequest` for the restore's hot path: a Txn of puts sized up front and written into
 * one buffer, so each value is copied once.
 */
export function encodePutTxn(puts: readonly PutRequest[]): Buffer {
  let total = 0;
  const sizes = new Array<number>(puts.length);
  for (let i = 0; i < puts.length; i++) {
    const { key, value } = puts[i]!;
    const put =
      (key.length > 0 ? 1 + varintSize(key.length) + key.length : 0) +
      (value.length > 0 ? 1 + varintSize(value.length) + value.length : 0);
    const op = 1 + varintSize(put) + put;
    sizes[i] = put;
    total += 1 + varintSize(op) + op;
  }
  const w = new ProtoWriter(total);
  for (let i = 0; i < puts.length; i++) {
    const { key, value } = puts[i]!;
    const put = sizes[i]!;
    w.tag(2, WIRE_BYTES).varint(1 + varintSize(put) + put); // TxnRequest.success: RequestOp
    w.tag(2, WIRE_BYTES).varint(put); // RequestOp.request_put: PutRequest
    w.bytes(1, key).bytes(2, value);
  }
  return w.finish();
}

export function encodeCompactionRequest(revision: number, physical: boolean): Buffer {
  return new ProtoWriter(16).uint(1, revision).bool(2, physical).finish();
}

export function encodeAuthenticateRequest(name: string, password: string): Buffer {
  return new ProtoWriter(64).bytes(1, Buffer.from(name)).bytes(2, Buffer.from(password)).finish();
}

export const EMPTY_REQUEST: Buffer = EMPTY;

// ---- responses ------------------------------------------------------------------------------

function decodeHeader(r: ProtoReader): Header {
  let revision = 0;
  let memberId = 0;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 2 && wire === 0) memberId = r.varint();
    else if (field === 3 && wire === 0) revision = r.varint();
    else r.skip(wire);
  }
  return { revision, memberId };
}

function decodeKeyValue(r: ProtoReader): EtcdKeyValue {
  let key = EMPTY;
  let value = EMPTY;
  let createRevision = 0;
  let modRevision = 0;
  let version = 0;
  while (!r.done) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1:
        key = r.bytes();
        break;
      case 2:
        createRevision = r.varint();
        break;
      case 3:
        modRevision = r.varint();
        break;
      case 4:
        version = r.varint();
        break;
      case 5:
        value = r.bytes();
        break;
      default:
        r.skip(wire);
    }
  }
  return { key, value, createRevision, modRevision, version };
}

/** mvccpb.KeyValue, as etcd stores it in its bbolt `key` bucket too. */
export function decodeMvccKeyValue(buf: Buffer): EtcdKeyValue {
  return decodeKeyValue(new ProtoReader(buf));
}

function readRange(r: ProtoReader): RangeResponse {
  let header = EMPTY_HEADER;
  const kvs: EtcdKeyValue[] = [];
  let more = false;
  let count = 0;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_BYTES) header = decodeHeader(r.message());
    else if (field === 2 && wire === WIRE_BYTES) kvs.push(decodeKeyValue(r.message()));
    else if (field === 3) more = r.varint() !== 0;
    else if (field === 4) count = r.varint();
    else r.skip(wire);
  }
  return { header, kvs, more, count };
}

export function decodeRangeResponse(buf: Buffer): RangeResponse {
  return readRange(new ProtoReader(buf));
}

/**
 * Frees a response message once nothing views it any more. The channel assembles each message
 * into a buffer of its own (`MessageReader`; `releaseView` leaves any other kind alone).
 */
export function releaseMessage(buf: Buffer): void {
  releaseView(buf);
}

/**
 * A Range response whose key/values are decoded one at a time, when asked for. A snapshot walks
 * pages of up to 10,000 keys; decoded all at once, they lived long enough for V8 to promote them
 * and grew its heap by ~100 MiB (docs/benchmarks.md).
 */
export class RangePage {
  /** The response message; every key and value handed out is a view of it. */
  readonly buf: Buffer;
  readonly more: boolean;
  /** Bytes of the page's KeyValue messages (keys, values and a few of etcd's numbers). */
  readonly bytes: number;
  /** Start and end of each KeyValue message in `buf`. */
  readonly #bounds: number[];

  constructor(buf: Buffer, bounds: number[], more: boolean, bytes: number) {
    this.buf = buf;
    this.#bounds = bounds;
    this.more = more;
    this.bytes = bytes;
  }

  get length(): number {
    return this.#bounds.length / 2;
  }

  key(index: number): Buffer {
    return keyOf(this.#reader(index));
  }

  keyValue(index: number): { key: Buffer; value: Buffer } {
    const r = this.#reader(index);
    let key = EMPTY;
    let value = EMPTY;
    while (!r.done) {
      const { field, wire } = r.tag();
      if (field === 1 && wire === WIRE_BYTES) key = r.bytes();
      else if (field === 5 && wire === WIRE_BYTES) value = r.bytes();
      else r.skip(wire);
    }
    return { key, value };
  }

  #reader(index: number): ProtoReader {
    if (!(index >= 0 && index < this.length)) throw new RangeError(`no key/value ${index} in this page`);
    return new ProtoReader(this.buf, this.#bounds[2 * index], this.#bounds[2 * index + 1]);
  }
}

/** A RangeResponse as a `RangePage`: one pass noting where each KeyValue is. */
export function decodeRangePage(buf: Buffer): RangePage {
  const r = new ProtoReader(buf);
  const bounds: number[] = [];
  let more = false;
  let bytes = 0;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 2 && wire === WIRE_BYTES) {
      const length = r.varint();
      const start = r.position;
      r.skipBytes(length);
      bounds.push(start, start + length);
      bytes += length;
    } else if (field === 3) more = r.varint() !== 0;
    else r.skip(wire);
  }
  return new RangePage(buf, bounds, more, bytes);
}

/** What the fence pass keeps of a keys-only page: every `spacing`-th key (copied) and the last. */
export interface RangeKeySample {
  /** Keys at positions `offset + i` with `(offset + i) % spacing === 0`, `offset + i > 0`. */
  readonly sampled: Buffer[];
  readonly last: Buffer | undefined;
  readonly keys: number;
  readonly more: boolean;
}

/**
 * A keys-only RangeResponse read without a KeyValue object per key: the fence pass reads 50,000
 * keys a page, and decoding each into objects only to drop them kept V8's collector busy.
 */
export function decodeRangeKeySample(buf: Buffer, spacing: number, offset: number): RangeKeySample {
  const r = new ProtoReader(buf);
  const sampled: Buffer[] = [];
  let lastMessage: ProtoReader | undefined;
  let keys = 0;
  let more = false;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 2 && wire === WIRE_BYTES) {
      const kv = r.message();
      const at = offset + keys++;
      if (at > 0 && at % spacing === 0) sampled.push(Buffer.from(keyOf(kv)));
      lastMessage = kv;
    } else if (field === 3) more = r.varint() !== 0;
    else r.skip(wire);
  }
  return { sampled, last: lastMessage ? Buffer.from(keyOf(lastMessage)) : undefined, keys, more };
}

function keyOf(r: ProtoReader): Buffer {
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_BYTES) return r.bytes();
    r.skip(wire);
  }
  return EMPTY;
}

/** Responses that carry nothing but a header (Put, Compact). */
export function decodeHeaderOnly(buf: Buffer): { header: Header } {
  const r = new ProtoReader(buf);
  let header = EMPTY_HEADER;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_BYTES) header = decodeHeader(r.message());
    else r.skip(wire);
  }
  return { header };
}

function readDeleteRange(r: ProtoReader): { header: Header; deleted: number } {
  let header = EMPTY_HEADER;
  let deleted = 0;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_BYTES) header = decodeHeader(r.message());
    else if (field === 2) deleted = r.varint();
    else r.skip(wire);
  }
  return { header, deleted };
}

export function decodeDeleteRangeResponse(buf: Buffer): { header: Header; deleted: number } {
  return readDeleteRange(new ProtoReader(buf));
}

export function decodeTxnResponse(buf: Buffer): TxnResponse {
  const r = new ProtoReader(buf);
  let header = EMPTY_HEADER;
  let succeeded = false;
  const responses: ResponseOp[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_BYTES) header = decodeHeader(r.message());
    else if (field === 2) succeeded = r.varint() !== 0;
    else if (field === 3 && wire === WIRE_BYTES) {
      const op = r.message();
      while (!op.done) {
        const t = op.tag();
        if (t.field === 1) responses.push({ range: readRange(op.message()) });
        else if (t.field === 2) responses.push({ put: decodeHeaderOnly(op.bytes()) });
        else if (t.field === 3) responses.push({ deleteRange: readDeleteRange(op.message()) });
        else op.skip(t.wire);
      }
    } else r.skip(wire);
  }
  return { header, succeeded, responses };
}

export function decodeStatusResponse(buf: Buffer): StatusResponse {
  const r = new ProtoReader(buf);
  let header = EMPTY_HEADER;
  let version = "";
  let dbSize = 0;
  let raftIndex = 0;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_BYTES) header = decodeHeader(r.message());
    else if (field === 2 && wire === WIRE_BYTES) version = r.string();
    else if (field === 3) dbSize = r.varint();
    else if (field === 5) raftIndex = r.varint();
    else r.skip(wire);
  }
  return { header, version, dbSize, raftIndex };
}

export function decodeSnapshotResponse(buf: Buffer): SnapshotResponse {
  const r = new ProtoReader(buf);
  let remainingBytes = 0;
  let blob = EMPTY;
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 2 && wire === 0) remainingBytes = r.varint();
    else if (field === 3 && wire === WIRE_BYTES) blob = r.bytes();
    else r.skip(wire);
  }
  return { remainingBytes, blob };
}

export function decodeAuthenticateResponse(buf: Buffer): { token: string } {
  const r = new ProtoReader(buf);
  let token = "";
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 2 && wire === WIRE_BYTES) token = r.string();
    else r.skip(wire);
  }
  return { token };
}
