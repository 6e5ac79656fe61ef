import { describe, expect, it } from "vitest";
import { MessageReader } from "../src/grpc/message-reader.js";
import {
  decodeAuthenticateResponse,
  decodeMvccKeyValue,
  decodeRangePage,
  decodeRangeResponse,
  decodeSnapshotResponse,
  encodePutTxn,
  encodeRangeRequest,
  encodeTxnRequest,
  releaseMessage,
} from "../src/grpc/messages.js";
import { ProtoReader, ProtoWriter } from "../src/grpc/protobuf.js";
import { keyAfter, prefixEnd } from "../src/keys.js";

describe("protobuf codec", () => {
  it("encodes varints as the protobuf spec does, up to 2^53", () => {
    expect(new ProtoWriter().varint(150).finish().toString("hex")).toBe("9601");
    expect(new ProtoWriter().varint(0).finish().toString("hex")).toBe("00");
    expect(
      new ProtoWriter()
        .varint(2 ** 32)
        .finish()
        .toString("hex"),
    ).toBe("8080808010");
    for (const n of [1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      expect(new ProtoReader(new ProtoWriter().varint(n).finish()).varint()).toBe(n);
    }
  });

  it("skips unknown fields of every wire type (a 10-byte varint id, fixed64, bytes, fixed32)", () => {
    const raw = Buffer.concat([
      Buffer.from("48ffffffffffffffffff01", "hex"), // field 9 varint: 2^64-1 (cluster ids are that large)
      Buffer.from("510102030405060708", "hex"), // field 10 fixed64
      Buffer.from("5a03616263", "hex"), // field 11 bytes "abc"
      Buffer.from("6501020304", "hex"), // field 12 fixed32
      Buffer.from("1213", "hex"),
      Buffer.from("aZDgZoDnMHNjEiMP.11"), // field 2: the token
    ]);
    expect(decodeAuthenticateResponse(raw).token).toBe("aZDgZoDnMHNjEiMP.11");
    // etcd's real Authenticate answer: a header (skipped), then the token
    const real = Buffer.from(
      "0a1908f9f09fa2a29fb9ad4e109bdb989bc89df094eb01180120021213615a44675a6f446e4d484e6a45694d502e3131",
      "hex",
    );
    expect(decodeAuthenticateResponse(real).token).toBe("aZDgZoDnMHNjEiMP.11");
  });

  it("rejects truncated messages instead of reading past them", () => {
    expect(() => decodeRangeResponse(Buffer.from("1205", "hex"))).toThrow(/truncated/);
    expect(() => decodeSnapshotResponse(Buffer.from("1a0a6162", "hex"))).toThrow(/truncated/);
    expect(() => new ProtoReader(Buffer.from("ff", "hex")).varint()).toThrow(/truncated/);
  });

  it("decodes a range response into views of the message, with revision, more and count", () => {
    const kv = (key: string, value: string, mod: number) =>
      new ProtoWriter()
        .bytes(1, Buffer.from(key))
        .uint(2, 5)
        .uint(3, mod)
        .uint(4, 1)
        .bytes(5, Buffer.from(value))
        .finish();
    const header = new ProtoWriter().uint(1, 123).uint(3, 4242).finish();
    const message = new ProtoWriter()
      .message(1, header)
      .message(2, kv("/a", "1", 7))
      .message(2, kv("/b", "", 8))
      .bool(3, true)
      .uint(4, 10)
      .finish();
    const r = decodeRangeResponse(message);
    expect(r.header.revision).toBe(4242);
    expect(r.more).toBe(true);
    expect(r.count).toBe(10);
    expect(r.kvs.map((k) => [k.key.toString(), k.value.toString(), k.modRevision])).toEqual([
      ["/a", "1", 7],
      ["/b", "", 8],
    ]);
    expect(r.kvs[0]!.key.buffer).toBe(message.buffer); // no copy
    expect(decodeMvccKeyValue(kv("/c", "v", 9)).createRevision).toBe(5);
  });

  it("reads a range page lazily: the same keys and values as the full decoder, as views of the message", () => {
    const kv = (key: string, value: Buffer) =>
      new ProtoWriter().bytes(1, Buffer.from(key)).uint(2, 5).uint(3, 9).bytes(5, value).uint(6, 77).finish();
    const values = [Buffer.from("x"), Buffer.alloc(0), Buffer.alloc(70_000, 7)];
    const w = new ProtoWriter().message(1, new ProtoWriter().uint(3, 10).finish());
    for (const [i, v] of values.entries()) w.message(2, kv(`/k/${i}`, v));
    const message = w.bool(3, true).uint(4, 99).finish();
    const full = decodeRangeResponse(message);
    const page = decodeRangePage(message);
    expect(page.length).toBe(3);
    expect(page.more).toBe(true);
    const lazy = Array.from({ length: page.length }, (_, i) => page.keyValue(i));
    expect(lazy.map((e) => [e.key.toString(), e.value.length])).toEqual(
      full.kvs.map((e) => [e.key.toString(), e.value.length]),
    );
    expect(lazy.every((e, i) => e.value.equals(values[i]!))).toBe(true);
    expect(page.key(2).toString()).toBe("/k/2");
    expect(page.keyValue(2).value.buffer).toBe(message.buffer); // no copy
    expect(page.bytes).toBeGreaterThan(70_000);
    expect(() => page.keyValue(3)).toThrow(RangeError);
    expect(decodeRangePage(new ProtoWriter().bool(3, false).finish()).length).toBe(0);
  });

  it("frees a message the channel assembled into a buffer of its own, and never one in Node's Buffer pool", () => {
    const framed = Buffer.alloc(5 + 100_000, 1);
    framed[0] = 0;
    framed.writeUInt32BE(100_000, 1);
    const messages: Buffer[] = [];
    new MessageReader().push(framed, (m) => messages.push(m));
    const own = messages[0]!;
    expect(own.length).toBe(100_000);
    releaseMessage(own);
    expect((own.buffer as ArrayBuffer).detached).toBe(true);
    expect(own.length).toBe(0);
    const inFrame = Buffer.alloc(5 + 100_000, 1).subarray(5); // not the channel's: left alone
    releaseMessage(inFrame);
    expect(inFrame.buffer.detached).toBe(false);
    const pooled = Buffer.from("a small message");
    const neighbour = Buffer.from("its neighbour in the pool");
    releaseMessage(pooled);
    expect(pooled.toString()).toBe("a small message");
    expect(neighbour.toString()).toBe("its neighbour in the pool");
    const view = Buffer.alloc(200_000).subarray(1000, 2000); // part of a larger buffer: left alone
    releaseMessage(view);
    expect(view.buffer.detached).toBe(false);
  });

  it("encodes a put-only Txn in one pass exactly as the general encoder does", () => {
    const puts = [
      { key: Buffer.from("/a"), value: Buffer.alloc(0) },
      { key: Buffer.from("/b"), value: Buffer.alloc(200, 7) },
      { key: Buffer.alloc(300, 0x2f), value: Buffer.alloc(70_000, 1) },
    ];
    expect(encodePutTxn(puts).equals(encodeTxnRequest(puts.map((put) => ({ put }))))).toBe(true);
  });

  it("encodes requests with proto3 defaults omitted", () => {
    expect(encodeRangeRequest({ key: Buffer.from("/"), rangeEnd: Buffer.from("0") }).toString("hex")).toBe(
      "0a012f120130",
    );
    expect(
      encodeRangeRequest({ key: Buffer.from("/"), countOnly: true, revision: 300 }).toString("hex"),
    ).toBe("0a012f20ac024801");
    // Txn { success: [ RequestOp { request_put: { key: "k", value: "" } } ] }
    expect(
      encodeTxnRequest([{ put: { key: Buffer.from("k"), value: Buffer.alloc(0) } }]).toString("hex"),
    ).toBe("120512030a016b");
  });
});

describe("key ranges", () => {
  it("computes prefix ends and next keys as etcd's client does", () => {
    expect(prefixEnd(Buffer.from("/")).toString()).toBe("0");
    expect(prefixEnd(Buffer.from("/vcluster/snapshot/")).toString()).toBe("/vcluster/snapshot0");
    expect(prefixEnd(Buffer.from([0x61, 0xff, 0xff])).toString("hex")).toBe("62");
    expect(prefixEnd(Buffer.from([0xff])).toString("hex")).toBe("00");
    expect(keyAfter(Buffer.from("/a")).toString("hex")).toBe("2f6100");
  });
});
