import http2, { type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { MessageReader } from "./message-reader.js";
import { GrpcError, GrpcStatus } from "./status.js";

export interface ChannelTarget {
  /** host:port (IPv6 in brackets). */
  readonly address: string;
  readonly secure: boolean;
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  /** The name to send (SNI) and to check the server's certificate against, if not the host. */
  readonly serverName?: string | undefined;
}

export interface CallOptions {
  /** Sent as request headers (etcd's auth `token`). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** How long the whole call may take (none if absent); sent as `grpc-timeout` and enforced here too. */
  readonly timeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface GrpcCall {
  /** Settles when the call ends: OK, or a GrpcError. */
  readonly done: Promise<void>;
  /** Stops reading (flow control holds the server back) until `resume`. */
  pause(): void;
  resume(): void;
  cancel(): void;
}

/**
 * Windows the server may fill before this side reads: a page of values (a few MiB) arrives without
 * waiting on window updates, and a paused stream holds etcd back at about this much.
 */
const STREAM_WINDOW = 1 << 20;
const SESSION_WINDOW = 4 << 20;
/** grpc-timeout carries at most 8 digits. */
const MAX_TIMEOUT_MS = 99_999_999;

/** HTTP/2 stream resets, as gRPC maps them to statuses (grpc/doc/PROTOCOL-HTTP2.md). */
function resetStatus(code: number): number {
  const c = http2.constants;
  if (code === c.NGHTTP2_REFUSED_STREAM) return GrpcStatus.UNAVAILABLE;
  if (code === c.NGHTTP2_CANCEL) return GrpcStatus.CANCELLED;
  if (code === c.NGHTTP2_ENHANCE_YOUR_CALM) return GrpcStatus.RESOURCE_EXHAUSTED;
  if (code === c.NGHTTP2_INADEQUATE_SECURITY) return GrpcStatus.PERMISSION_DENIED;
  return GrpcStatus.INTERNAL;
}

function statusFrom(headers: http2.IncomingHttpHeaders): GrpcError | null | undefined {
  const raw = headers["grpc-status"];
  if (raw === undefined) return undefined;
  const code = Number(raw);
  if (code === GrpcStatus.OK) return null;
  const message = headers["grpc-message"];
  let details = typeof message === "string" ? message : "";
  try {
    details = decodeURIComponent(details);
  } catch {
    // not percent-encoded after all: keep it as sent
  }
  return new GrpcError(Number.isInteger(code) ? code : GrpcStatus.UNKNOWN, details || `status ${raw}`);
}

/** The reason behind a transport error: Node wraps a failed connection's cause in a stream cancel. */
function transportDetails(error: Error | undefined, fallback: string): string {
  if (!error) return fallback;
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : error.message;
}

/** A connection and how many calls use it (it is referenced only while some do). */
interface Connection {
  readonly session: ClientHttp2Session;
  active: number;
}

/**
 * One HTTP/2 connection to one gRPC server, made when first needed and again after it is lost.
 * Written for vsnap's etcd calls: each response message is copied once, from the network's chunks
 * into a buffer of its own (`MessageReader`), so chunks die young and a page is one allocation.
 * The connection keeps the process alive only while calls are in flight.
 */
export class GrpcChannel {
  readonly #target: ChannelTarget;
  #connection: Connection | undefined;
  #closed = false;

  constructor(target: ChannelTarget) {
    this.#target = target;
  }

  /**
   * Starts a call: `request` is sent as one message, and each response message goes to
   * `onMessage` as it completes (the buffer is the receiver's). A throw from `onMessage` fails the
   * call with INTERNAL.
   */
  start(
    method: string,
    request: Uint8Array,
    options: CallOptions,
    onMessage: (message: Buffer) => void,
  ): GrpcCall {
    if (this.#closed) throw new GrpcError(GrpcStatus.UNAVAILABLE, "the channel is closed");
    const connection = this.#connect();
    const { session } = connection;
    const timeoutMs =
      options.timeoutMs === undefined
        ? undefined
        : Math.min(MAX_TIMEOUT_MS, Math.max(1, Math.ceil(options.timeoutMs)));
    const stream: ClientHttp2Stream = session.request(
      {
        ":method": "POST",
        ":path": method,
        "content-type": "application/grpc",
        te: "trailers",
        ...(timeoutMs === undefined ? {} : { "grpc-timeout": `${timeoutMs}m` }),
        ...options.metadata,
      },
      { endStream: false },
    );
    if (connection.active++ === 0) session.ref();

    const { promise: done, resolve, reject } = Promise.withResolvers<void>();
    // undefined: no status yet; null: OK
    let status: GrpcError | null | undefined;
    let local: GrpcError | undefined;
    let transport: Error | undefined;
    const reader = new MessageReader();

    const stop = (error: GrpcError) => {
      local ??= error;
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
    };
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => stop(new GrpcError(GrpcStatus.DEADLINE_EXCEEDED, `deadline of ${timeoutMs} ms exceeded`)),
            timeoutMs,
          );
    const cancel = () => stop(new GrpcError(GrpcStatus.CANCELLED, "cancelled by the caller"));
    options.signal?.addEventListener("abort", cancel, { once: true });
    if (options.signal?.aborted) cancel();

    stream.on("response", (headers) => {
      const code = headers[":status"];
      if (code !== 200) {
        status = new GrpcError(
          code === 503 || code === 502 || code === 504 ? GrpcStatus.UNAVAILABLE : GrpcStatus.UNKNOWN,
          `the server answered HTTP ${code}, not gRPC`,
        );
        return;
      }
      status = statusFrom(headers); // a trailers-only response ends the call here
    });
    stream.on("trailers", (trailers) => {
      const final = statusFrom(trailers);
      status =
        final === undefined
          ? new GrpcError(GrpcStatus.INTERNAL, "the server's trailers carry no grpc-status")
          : final;
    });
    stream.on("data", (chunk: Buffer) => {
      if (local) return;
      try {
        reader.push(chunk, onMessage);
      } catch (error) {
        stop(
          error instanceof GrpcError
            ? error
            : new GrpcError(GrpcStatus.INTERNAL, `could not read the response: ${(error as Error).message}`, {
                cause: error,
              }),
        );
      }
    });
    stream.on("error", (error) => {
      transport ??= error;
    });
    stream.on("close", () => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", cancel);
      if (--connection.active === 0) session.unref();
      if (local) return reject(local);
      if (status === undefined) {
        const code = stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR;
        // a reset of this stream alone, or the connection gone (refused, TLS, GOAWAY, socket error)?
        const streamOnly = (transport as { code?: string } | undefined)?.code === "ERR_HTTP2_STREAM_ERROR";
        const lost = !streamOnly && (transport !== undefined || session.destroyed || session.closed);
        return reject(
          new GrpcError(
            lost ? GrpcStatus.UNAVAILABLE : resetStatus(code),
            transportDetails(
              transport,
              lost ? "the connection was lost" : `the server reset the stream (code ${code})`,
            ),
            { cause: transport },
          ),
        );
      }
      if (status) return reject(status);
      if (reader.partial) {
        return reject(new GrpcError(GrpcStatus.INTERNAL, "the response ended inside a message"));
      }
      resolve();
    });

    // the prefix, then the caller's bytes as they are: no copy of a large request
    stream.write(prefix(request.length));
    stream.end(request);
    return {
      done,
      pause: () => stream.pause(),
      resume: () => stream.resume(),
      cancel,
    };
  }

  /** A unary call: its one response message. */
  async unary(method: string, request: Uint8Array, options: CallOptions): Promise<Buffer> {
    let response: Buffer | undefined;
    await this.start(method, request, options, (message) => {
      if (response)
        throw new GrpcError(GrpcStatus.INTERNAL, "a unary call got more than one response message");
      response = message;
    }).done;
    if (!response) throw new GrpcError(GrpcStatus.INTERNAL, "a unary call ended without a response message");
    return response;
  }

  close(): void {
    this.#closed = true;
    this.#connection?.session.destroy();
    this.#connection = undefined;
  }

  #connect(): Connection {
    const current = this.#connection;
    if (current && !current.session.closed && !current.session.destroyed) return current;
    const t = this.#target;
    const session = http2.connect(`${t.secure ? "https" : "http"}://${t.address}`, {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
      ...(t.secure
        ? {
            ...(t.ca ? { ca: t.ca } : {}),
            ...(t.cert ? { cert: t.cert } : {}),
            ...(t.key ? { key: t.key } : {}),
            ...(t.serverName ? { servername: t.serverName } : {}),
          }
        : {}),
    });
    // Each stream gets the session's error too; this only keeps an unheard one from crashing.
    session.on("error", () => undefined);
    session.once("connect", () => session.setLocalWindowSize(SESSION_WINDOW));
    session.unref();
    this.#connection = { session, active: 0 };
    return this.#connection;
  }
}

/** gRPC's message prefix: a 0 (not compressed) byte, then the length. */
function prefix(length: number): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 1);
  return head;
}
