import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import tls from "node:tls";
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
  readonly body: IncomingMessage;
}

/** An idle pooled connection is closed after this long (registries drop idle ones too). */
const IDLE_MS = 10_000;
/** A request whose connection stays silent this long (no headers, no body bytes) fails. */
const SILENCE_MS = 300_000;

/**
 * One keep-alive connection pool per store, with the store's TLS trust, on node:http(s): an HTTP
 * client library (undici) added ~28 MiB to the RSS of every OCI snapshot for the same work.
 */
export class Transport {
  readonly #http = new http.Agent({ keepAlive: true, timeout: IDLE_MS });
  readonly #https: https.Agent;
  readonly #userAgent: string;

  constructor(options: TransportOptions) {
    this.#userAgent = options.userAgent;
    const trust: https.AgentOptions = {};
    // `ca` replaces Node's trust store, so the defaults (bundled + NODE_EXTRA_CA_CERTS) are passed along
    if (options.caCert) trust.ca = [...defaultCertificates(), options.caCert];
    if (options.insecureSkipTlsVerify) trust.rejectUnauthorized = false;
    this.#https = new https.Agent({ keepAlive: true, timeout: IDLE_MS, ...trust });
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    const what = `${req.method} ${displayUrl(req.url)}`;
    try {
      const res = await this.#exchange(req, what);
      return { status: res.statusCode ?? 0, headers: res.headers, body: res };
    } catch (error) {
      throw transportError(error, what, req.signal);
    }
  }

  #exchange(req: HttpRequest, what: string): Promise<IncomingMessage> {
    const secure = req.url.startsWith("https:");
    return new Promise((resolve, reject) => {
      const request = (secure ? https : http).request(req.url, {
        method: req.method,
        headers: { "user-agent": this.#userAgent, ...req.headers },
        agent: secure ? this.#https : this.#http,
        ...(req.signal ? { signal: req.signal } : {}),
      });
      request.setTimeout(SILENCE_MS, () => {
        request.destroy(
          Object.assign(new Error(`no answer for ${SILENCE_MS / 1000} s`), { code: "ETIMEDOUT" }),
        );
      });
      // (a listener that stays: an error after the response, e.g. an abort, is the body's to report)
      request.on("error", reject);
      request.once("response", resolve);
      const { body } = req;
      if (body === undefined || typeof body === "string" || Buffer.isBuffer(body)) {
        request.end(body); // a whole body goes with its Content-Length
      } else {
        body.once("error", (error) =>
          request.destroy(new Error(`${what}: reading the body: ${error.message}`)),
        );
        request.once("close", () => body.destroy()); // sent, or failed: either way the source is done
        body.pipe(request);
      }
    });
  }

  async close(): Promise<void> {
    this.#http.destroy();
    this.#https.destroy();
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

/** Discards a body we do not need, so the connection goes back to the pool (or closes it, if large). */
export async function discard(res: HttpResponse, limit = 1024 * 1024): Promise<void> {
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > limit) break; // cheaper to drop the connection than to read on
    }
  } catch {
    // a body that fails while being discarded changes nothing for the caller
  } finally {
    if (!res.body.readableEnded) res.body.destroy();
  }
}
