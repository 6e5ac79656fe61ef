import { Secret, throwIfAborted, VsnapError } from "@vsnap/core";
import { etcdError, isInvalidAuthToken, isTransportFailure } from "./errors.js";
import { type GrpcCall, GrpcChannel } from "./grpc/channel.js";
import {
  decodeAuthenticateResponse,
  decodeDeleteRangeResponse,
  decodeHeaderOnly,
  decodeRangeKeySample,
  decodeRangePage,
  decodeRangeResponse,
  decodeSnapshotResponse,
  decodeStatusResponse,
  decodeTxnResponse,
  EMPTY_REQUEST,
  encodeAuthenticateRequest,
  encodeCompactionRequest,
  encodeDeleteRangeRequest,
  encodeRangeRequest,
  encodeTxnRequest,
  type Header,
  type RangeKeySample,
  type RangePage,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  releaseMessage,
  type SnapshotResponse,
  type StatusResponse,
  type TxnResponse,
} from "./grpc/messages.js";
import {
  DEFAULT_CONNECT_MS,
  DEFAULT_REQUEST_MS,
  type EtcdConnectionOptions,
  type ParsedEndpoint,
  parseEndpoints,
  type ResolvedTls,
  resolveTls,
} from "./options.js";

const METHOD = {
  range: "/etcdserverpb.KV/Range",
  txn: "/etcdserverpb.KV/Txn",
  deleteRange: "/etcdserverpb.KV/DeleteRange",
  compact: "/etcdserverpb.KV/Compact",
  status: "/etcdserverpb.Maintenance/Status",
  snapshot: "/etcdserverpb.Maintenance/Snapshot",
  authenticate: "/etcdserverpb.Auth/Authenticate",
} as const;

/** Snapshot messages (32 KiB each from etcd) held before the stream is paused, and resumed at. */
const SNAPSHOT_QUEUE_HIGH = 8;
const SNAPSHOT_QUEUE_LOW = 2;

interface CallContext {
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
}

/**
 * A small etcd v3 client over our own gRPC channel (node:http2) with hand-encoded messages: exactly the calls vsnap
 * needs (Range, Txn, DeleteRange, Compact, Status, Snapshot, Authenticate), every call cancellable
 * and bounded by a deadline, failing over to the next member when one is unreachable.
 */
export class EtcdClient {
  readonly #endpoints: readonly ParsedEndpoint[];
  readonly #tls: ResolvedTls | undefined;
  readonly #auth: { username: string; password: Secret } | undefined;
  readonly #connectMs: number;
  readonly #requestMs: number;
  readonly #channels = new Map<number, GrpcChannel>();
  #current = 0;
  #token: string | undefined;
  #closed = false;

  private constructor(
    endpoints: readonly ParsedEndpoint[],
    tls: ResolvedTls | undefined,
    options: EtcdConnectionOptions,
  ) {
    this.#endpoints = endpoints;
    this.#tls = tls;
    const auth = options.auth;
    this.#auth = auth
      ? {
          username: auth.username,
          password: auth.password instanceof Secret ? auth.password : new Secret(auth.password),
        }
      : undefined;
    this.#connectMs = options.timeouts?.connectMs ?? DEFAULT_CONNECT_MS;
    this.#requestMs = options.timeouts?.requestMs ?? DEFAULT_REQUEST_MS;
  }

  /**
   * Resolves TLS material and reaches the first member that answers a Status call within the
   * connect timeout. Fails with UNAVAILABLE / TIMEOUT / UNAUTHENTICATED naming every endpoint tried.
   */
  static async connect(
    options: EtcdConnectionOptions,
    signal?: AbortSignal,
  ): Promise<{ client: EtcdClient; status: StatusResponse }> {
    const tls = await resolveTls(options.tls);
    const endpoints = parseEndpoints(options.endpoints, tls !== undefined);
    const client = new EtcdClient(endpoints, tls, options);
    const failures: VsnapError[] = [];
    for (let i = 0; i < endpoints.length; i++) {
      throwIfAborted(signal, "connecting to etcd");
      client.#current = i;
      try {
        if (client.#auth) await client.#authenticate(signal);
        const status = await client.#unaryOnce(
          METHOD.status,
          EMPTY_REQUEST,
          decodeStatusResponse,
          { signal, timeoutMs: client.#connectMs },
          "connect",
        );
        return { client, status };
      } catch (error) {
        const wrapped = etcdError(error, "connect", endpoints[i]!.display);
        if (wrapped.code === "ABORTED") {
          client.close();
          throw wrapped;
        }
        failures.push(wrapped);
      }
    }
    client.close();
    const first = failures[0]!;
    if (failures.length === 1) throw first;
    throw new VsnapError(
      first.code,
      `no etcd endpoint answered:\n  ${failures.map((f) => f.message).join("\n  ")}`,
      {
        cause: first,
        ...(first.hint ? { hint: first.hint } : {}),
      },
    );
  }

  /** The endpoint requests currently go to. */
  get endpoint(): string {
    return this.#endpoints[this.#current]!.display;
  }

  /** All endpoints, for descriptions. */
  get endpoints(): string {
    return this.#endpoints.map((e) => e.display).join(",");
  }

  range(request: RangeRequest, ctx: CallContext = {}): Promise<RangeResponse> {
    return this.#unary(METHOD.range, encodeRangeRequest(request), decodeRangeResponse, ctx, "range read");
  }

  /** A range whose key/values are decoded as they are read (`RangePage`). */
  rangePage(request: RangeRequest, ctx: CallContext = {}): Promise<RangePage> {
    return this.#unary(METHOD.range, encodeRangeRequest(request), decodeRangePage, ctx, "range read");
  }

  /** A keys-only range, of which only every `spacing`-th key and the last are kept (`decodeRangeKeySample`). */
  rangeKeySample(
    request: Omit<RangeRequest, "keysOnly" | "countOnly">,
    spacing: number,
    offset: number,
    ctx: CallContext = {},
  ): Promise<RangeKeySample> {
    return this.#unary(
      METHOD.range,
      encodeRangeRequest({ ...request, keysOnly: true }),
      (buf) => {
        const sample = decodeRangeKeySample(buf, spacing, offset);
        releaseMessage(buf); // the sample holds copies
        return sample;
      },
      ctx,
      "range read",
    );
  }

  txn(ops: readonly RequestOp[], ctx: CallContext = {}): Promise<TxnResponse> {
    return this.#unary(METHOD.txn, encodeTxnRequest(ops), decodeTxnResponse, ctx, "transaction");
  }

  /** A Txn already encoded (restore batches encode while the previous batch is in flight). */
  txnEncoded(request: Buffer, ctx: CallContext = {}): Promise<TxnResponse> {
    return this.#unary(METHOD.txn, request, decodeTxnResponse, ctx, "transaction");
  }

  deleteRange(
    key: Uint8Array,
    rangeEnd: Uint8Array,
    ctx: CallContext = {},
  ): Promise<{ header: Header; deleted: number }> {
    return this.#unary(
      METHOD.deleteRange,
      encodeDeleteRangeRequest({ key, rangeEnd }),
      decodeDeleteRangeResponse,
      ctx,
      "delete range",
    );
  }

  compact(revision: number, physical: boolean, ctx: CallContext = {}): Promise<{ header: Header }> {
    return this.#unary(
      METHOD.compact,
      encodeCompactionRequest(revision, physical),
      decodeHeaderOnly,
      ctx,
      "compaction",
    );
  }

  status(ctx: CallContext = {}): Promise<StatusResponse> {
    return this.#unary(METHOD.status, EMPTY_REQUEST, decodeStatusResponse, ctx, "status");
  }

  /**
   * etcd's Maintenance/Snapshot stream from the current member: bbolt bytes then a 32-byte SHA-256
   * trailer. Each message waits at most `requestMs` (an idle timeout, not a total one).
   */
  async *snapshot(signal?: AbortSignal): AsyncGenerator<SnapshotResponse> {
    const endpoint = this.endpoint;
    const queue: Buffer[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    let failure: unknown;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        call.cancel();
      }, this.#requestMs);
    };
    const call: GrpcCall = this.#channel().start(
      METHOD.snapshot,
      EMPTY_REQUEST,
      { metadata: this.#metadata(), signal },
      (message) => {
        queue.push(message);
        if (queue.length >= SNAPSHOT_QUEUE_HIGH) call.pause();
        arm();
        wake?.();
      },
    );
    call.done
      .catch((error: unknown) => {
        failure = error;
      })
      .finally(() => {
        ended = true;
        wake?.();
      });
    arm();
    try {
      for (;;) {
        const message = queue.shift();
        if (message) {
          if (queue.length <= SNAPSHOT_QUEUE_LOW) call.resume();
          arm();
          yield decodeSnapshotResponse(message);
          continue;
        }
        if (ended) {
          if (failure !== undefined) throw failure;
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } catch (error) {
      if (signal?.aborted) throw new VsnapError("ABORTED", "etcd snapshot aborted", { cause: signal.reason });
      if (timedOut) {
        throw new VsnapError(
          "TIMEOUT",
          `etcd snapshot stream from ${endpoint} stalled for ${this.#requestMs} ms`,
          {
            hint: "check etcd's health, or raise the etcd request timeout",
          },
        );
      }
      throw etcdError(error, "snapshot stream", endpoint);
    } finally {
      clearTimeout(timer);
      call.cancel();
    }
  }

  close(): void {
    this.#closed = true;
    for (const channel of this.#channels.values()) channel.close();
    this.#channels.clear();
  }

  #channel(): GrpcChannel {
    if (this.#closed) throw new VsnapError("FAILED_PRECONDITION", "the etcd client is closed");
    let channel = this.#channels.get(this.#current);
    if (!channel) {
      const endpoint = this.#endpoints[this.#current]!;
      const tls = this.#tls;
      channel = new GrpcChannel({
        address: endpoint.address,
        secure: endpoint.secure,
        ca: tls?.ca,
        cert: tls?.cert,
        key: tls?.key,
        serverName: tls?.serverName,
      });
      this.#channels.set(this.#current, channel);
    }
    return channel;
  }

  #metadata(): Record<string, string> {
    return this.#token ? { token: this.#token } : {};
  }

  async #authenticate(signal: AbortSignal | undefined): Promise<void> {
    const auth = this.#auth!;
    this.#token = undefined;
    const { token } = await this.#unaryOnce(
      METHOD.authenticate,
      encodeAuthenticateRequest(auth.username, auth.password.reveal()),
      decodeAuthenticateResponse,
      { signal, timeoutMs: this.#connectMs },
      "authenticate",
    );
    this.#token = token;
  }

  /** One call, with failover to the next member on a transport failure and one re-login on token expiry. */
  async #unary<T>(
    method: string,
    request: Buffer,
    decode: (b: Buffer) => T,
    ctx: CallContext,
    operation: string,
  ): Promise<T> {
    let reauthenticated = false;
    let attempts = 0;
    for (;;) {
      const endpoint = this.endpoint;
      try {
        return await this.#unaryOnce(method, request, decode, ctx, operation);
      } catch (error) {
        if (ctx.signal?.aborted)
          throw new VsnapError("ABORTED", `etcd ${operation} aborted`, { cause: ctx.signal.reason });
        if (this.#auth && !reauthenticated && isInvalidAuthToken(error)) {
          reauthenticated = true;
          await this.#authenticate(ctx.signal).catch((e: unknown) => {
            throw etcdError(e, "authenticate", endpoint);
          });
          continue;
        }
        if (isTransportFailure(error) && ++attempts < this.#endpoints.length) {
          this.#current = (this.#current + 1) % this.#endpoints.length;
          if (this.#auth) await this.#authenticate(ctx.signal).catch(() => undefined);
          continue;
        }
        throw etcdError(error, operation, endpoint);
      }
    }
  }

  async #unaryOnce<T>(
    method: string,
    request: Buffer,
    decode: (b: Buffer) => T,
    ctx: CallContext,
    operation: string,
  ): Promise<T> {
    throwIfAborted(ctx.signal, `etcd ${operation}`);
    const response = await this.#channel().unary(method, request, {
      metadata: this.#metadata(),
      timeoutMs: ctx.timeoutMs ?? this.#requestMs,
      signal: ctx.signal,
    });
    return decode(response);
  }
}
