import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import tls from "node:tls";
import { Agent, type Dispatcher, request } from "undici";
import { transportError } from "./errors.js";

export interface TransportOptions {
  /** PEM bundle trusted in addition to Node's default CAs. */
  readonly caCert?: string;
  readonly insecureSkipTlsVerify?: boolean;
  readonly userAgent: string;
}

export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | Readable | string;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Dispatcher.ResponseData["body"];
}

/** One keep-alive connection pool per store, with the store's TLS trust (undici Agent with `connect.ca`). */
export class Transport {
  readonly #agent: Agent;
  readonly #userAgent: string;

  constructor(options: TransportOptions) {
    this.#userAgent = options.userAgent;
    const connect: tls.ConnectionOptions = {};
    // `ca` replaces Node's trust store, so the defaults (bundled + NODE_EXTRA_CA_CERTS) are passed along
    if (options.caCert) connect.ca = [...defaultCertificates(), options.caCert];
    if (options.insecureSkipTlsVerify) connect.rejectUnauthorized = false;
    this.#agent = new Agent({ connect, keepAliveTimeout: 10_000 });
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    try {
      const res = await request(req.url, {
        method: req.method as Dispatcher.HttpMethod,
        headers: { "user-agent": this.#userAgent, ...req.headers },
        body: req.body ?? null,
        signal: req.signal ?? null,
        dispatcher: this.#agent,
      });
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (error) {
      throw transportError(error, `${req.method} ${displayUrl(req.url)}`, req.signal);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

function defaultCertificates(): string[] {
  const withExtra = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  return withExtra ? withExtra("default") : [...tls.rootCertificates];
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** A URL for messages: no query (upload URLs carry long opaque state), no userinfo. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url.replace(/\?.*$/, "");
  }
}

/** Reads a (small) response body as text and releases the connection. */
export async function readText(res: HttpResponse, limit?: number): Promise<string> {
  return (await readBytes(res, limit)).toString("utf8");
}

export async function readBytes(res: HttpResponse, limit = 8 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new Error(`response body larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Discards a body we do not need, so the connection goes back to the pool. */
export async function discard(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump({ limit: 1024 * 1024 });
  } catch {
    // a body that fails while being discarded changes nothing for the caller
  }
}
