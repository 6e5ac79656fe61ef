import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { freePort } from "@vsnap/test-servers/ports";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcChannel } from "../src/grpc/channel.js";
import { MessageReader } from "../src/grpc/message-reader.js";
import { GrpcError, GrpcStatus } from "../src/grpc/status.js";

function framed(...messages: Buffer[]): Buffer {
  return Buffer.concat(
    messages.map((m) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(m.length, 1);
      return Buffer.concat([head, m]);
    }),
  );
}

describe("MessageReader", () => {
  const messages = [Buffer.from("first"), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from("last")];
  const wire = framed(...messages);

  it("cuts the same messages out of the stream wherever the chunks are split", () => {
    for (let cut = 0; cut <= wire.length; cut += cut < 40 ? 1 : 997) {
      const reader = new MessageReader();
      const out: Buffer[] = [];
      reader.push(wire.subarray(0, cut), (m) => out.push(m));
      reader.push(wire.subarray(cut), (m) => out.push(m));
      expect(out, `cut at ${cut}`).toEqual(messages);
      expect(reader.partial).toBe(false);
    }
    const reader = new MessageReader();
    const out: Buffer[] = [];
    for (let i = 0; i < wire.length; i++) reader.push(wire.subarray(i, i + 1), (m) => out.push(m));
    expect(out).toEqual(messages);
  });

  it("copies each message into memory of its own, so the chunk may be reused", () => {
    const reader = new MessageReader();
    const out: Buffer[] = [];
    const chunk = Buffer.from(framed(Buffer.alloc(10_000, 1)));
    reader.push(chunk, (m) => out.push(m));
    chunk.fill(0xee);
    expect(out[0]!.every((b) => b === 1)).toBe(true);
    expect(out[0]!.byteOffset).toBe(0);
    expect(out[0]!.buffer.byteLength).toBe(10_000);
  });

  it("says when the stream stops inside a message, and refuses compressed or oversized ones", () => {
    const reader = new MessageReader();
    reader.push(wire.subarray(0, 3), () => undefined);
    expect(reader.partial).toBe(true);
    const compressed = framed(Buffer.from("x"));
    compressed[0] = 1;
    expect(() => new MessageReader().push(compressed, () => undefined)).toThrow(/compressed/);
    const huge = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
    const error = (() => {
      try {
        new MessageReader().push(huge, () => undefined);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(GrpcError);
    expect((error as GrpcError).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
  });
});

/** A gRPC server on node:http2 whose behaviour each test picks by method name. */
let server: http2.Http2Server;
let address: string;
const seenHeaders: http2.IncomingHttpHeaders[] = [];
let pausedStream: { written: number; finished: boolean } | undefined;

beforeAll(async () => {
  server = http2.createServer();
  server.on("stream", (stream, headers) => {
    seenHeaders.push(headers);
    const path = headers[":path"];
    const body: Buffer[] = [];
    stream.on("data", (c: Buffer) => body.push(c));
    stream.on("error", () => undefined);
    stream.on("end", () => {
      const ok = { ":status": 200, "content-type": "application/grpc" };
      switch (path) {
        case "/test/Echo": {
          stream.respond(ok, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          // echo the request message back in 3-byte pieces
          const wire = Buffer.concat(body);
          for (let i = 0; i < wire.length; i += 3) stream.write(wire.subarray(i, i + 3));
          stream.end();
          return;
        }
        case "/test/TrailersOnly":
          stream.respond(
            {
              ...ok,
              "grpc-status": "9",
              "grpc-message": "etcdserver: mvcc: required revision has been compacted %E2%9C%93",
            },
            { endStream: true },
          );
          return;
        case "/test/NoStatus":
          stream.respond(ok);
          stream.end(framed(Buffer.from("x")));
          return;
        case "/test/Truncated":
          stream.respond(ok, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(framed(Buffer.from("whole")).subarray(0, 7));
          return;
        case "/test/Http503":
          stream.respond({ ":status": 503 }, { endStream: true });
          return;
        case "/test/Reset":
          stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
          return;
        case "/test/ResetInternal":
          stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          return;
        case "/test/Silent":
          return; // never answers
        case "/test/Many": {
          // 64 messages of 64 KiB, written as fast as flow control lets them go
          stream.respond(ok, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          const state = { written: 0, finished: false };
          pausedStream = state;
          const one = framed(Buffer.alloc(64 * 1024, 5));
          const pump = () => {
            while (state.written < 64) {
              state.written++;
              if (!stream.write(one)) return void stream.once("drain", pump);
            }
            state.finished = true;
            stream.end();
          };
          pump();
          return;
        }
        default:
          stream.respond(
            { ...ok, "grpc-status": "12", "grpc-message": "unknown method" },
            { endStream: true },
          );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function failure(promise: Promise<unknown>): Promise<GrpcError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof GrpcError)) throw new Error(`expected a GrpcError, got ${String(error)}`);
  return error;
}

describe("GrpcChannel", () => {
  it("sends one framed message with gRPC's headers, the metadata and the deadline, and reads the answer", async () => {
    const channel = new GrpcChannel({ address, secure: false });
    try {
      const request = Buffer.alloc(100_000, 9);
      const response = await channel.unary("/test/Echo", request, {
        metadata: { token: "t-1" },
        timeoutMs: 5000,
      });
      expect(response.equals(request)).toBe(true);
      const headers = seenHeaders.at(-1)!;
      expect(headers[":method"]).toBe("POST");
      expect(headers["content-type"]).toBe("application/grpc");
      expect(headers.te).toBe("trailers");
      expect(headers.token).toBe("t-1");
      expect(headers["grpc-timeout"]).toBe("5000m");
      // the connection is reused
      expect((await channel.unary("/test/Echo", Buffer.from("again"), {})).toString()).toBe("again");
      expect(seenHeaders.at(-1)!["grpc-timeout"]).toBeUndefined();
    } finally {
      channel.close();
    }
  });

  it("turns statuses, resets and broken responses into errors with gRPC's codes", async () => {
    const channel = new GrpcChannel({ address, secure: false });
    try {
      const compacted = await failure(channel.unary("/test/TrailersOnly", Buffer.alloc(0), {}));
      expect(compacted.code).toBe(GrpcStatus.FAILED_PRECONDITION);
      expect(compacted.details).toBe("etcdserver: mvcc: required revision has been compacted ✓");
      expect((await failure(channel.unary("/test/Nope", Buffer.alloc(0), {}))).code).toBe(
        GrpcStatus.UNIMPLEMENTED,
      );
      const noStatus = await failure(channel.unary("/test/NoStatus", Buffer.alloc(0), {}));
      expect(noStatus.code).toBe(GrpcStatus.INTERNAL);
      const truncated = await failure(channel.unary("/test/Truncated", Buffer.alloc(0), {}));
      expect(truncated.details).toMatch(/inside a message/);
      const http = await failure(channel.unary("/test/Http503", Buffer.alloc(0), {}));
      expect(http.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(http.details).toMatch(/HTTP 503/);
      expect((await failure(channel.unary("/test/Reset", Buffer.alloc(0), {}))).code).toBe(
        GrpcStatus.UNAVAILABLE,
      );
      const internal = await failure(channel.unary("/test/ResetInternal", Buffer.alloc(0), {}));
      expect(internal.code).toBe(GrpcStatus.INTERNAL);
      // the channel still works afterwards
      expect((await channel.unary("/test/Echo", Buffer.from("ok"), {})).toString()).toBe("ok");
    } finally {
      channel.close();
    }
  });

  it("enforces the deadline and the caller's abort on a server that never answers", async () => {
    const channel = new GrpcChannel({ address, secure: false });
    try {
      const started = Date.now();
      const late = await failure(channel.unary("/test/Silent", Buffer.alloc(0), { timeoutMs: 300 }));
      expect(late.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      const controller = new AbortController();
      const pending = failure(channel.unary("/test/Silent", Buffer.alloc(0), { signal: controller.signal }));
      setTimeout(() => controller.abort(), 50);
      expect((await pending).code).toBe(GrpcStatus.CANCELLED);
    } finally {
      channel.close();
    }
  });

  it("holds the server back while paused, then reads every message", async () => {
    const channel = new GrpcChannel({ address, secure: false });
    try {
      const received: Buffer[] = [];
      const call = channel.start("/test/Many", Buffer.alloc(0), {}, (m) => received.push(m));
      call.pause();
      await new Promise((r) => setTimeout(r, 300));
      // 4 MiB on offer, but only about the 1 MiB stream window (plus Node's buffers) goes out
      expect(pausedStream!.finished).toBe(false);
      expect(pausedStream!.written).toBeLessThan(48);
      call.resume();
      await call.done;
      expect(received.length).toBe(64);
      expect(received.every((m) => m.length === 64 * 1024 && m[0] === 5)).toBe(true);
    } finally {
      channel.close();
    }
  });

  it("says the server is unavailable, with the reason, when nothing listens", async () => {
    const channel = new GrpcChannel({ address: `127.0.0.1:${await freePort()}`, secure: false });
    try {
      const refused = await failure(channel.unary("/test/Echo", Buffer.alloc(0), { timeoutMs: 5000 }));
      expect(refused.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(refused.details).toMatch(/ECONNREFUSED/);
    } finally {
      channel.close();
    }
    await expect(channel.unary("/test/Echo", Buffer.alloc(0), {})).rejects.toThrow(/closed/);
  });
});
