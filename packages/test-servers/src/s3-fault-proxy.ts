import http from "node:http";
import type { AddressInfo } from "node:net";

/** What the proxy does wrong, on purpose. Rules can be changed while it runs. */
export interface FaultRules {
  /** Answer UploadPart with an S3 error instead of forwarding it. */
  readonly failParts?: {
    /** Share of UploadPart requests that fail (0..1), drawn from a seeded generator. */
    readonly rate: number;
    /** HTTP status; 503 with code SlowDown by default. */
    readonly status?: number;
    readonly code?: string;
    /** At most this many failures per part (so a retrying client gets through); default unlimited. */
    readonly maxPerPart?: number;
  };
  /** Refuse (501 NotImplemented, as Cloudflare R2 does) any request carrying x-amz-checksum-* headers. */
  readonly rejectChecksumHeaders?: boolean;
  /** Cut the client's connection in the middle of an UploadPart body. */
  readonly dropParts?: {
    readonly rate: number;
    /** Bytes of the part forwarded before the cut; default 64 KiB. */
    readonly afterBytes?: number;
    readonly maxPerPart?: number;
  };
  /** Cut GetObject responses after this many body bytes. */
  readonly truncateGets?: { readonly afterBytes: number };
  /** Seed for the failure draws; default 1. */
  readonly seed?: number;
}

export type S3Operation =
  | "UploadPart"
  | "CreateMultipartUpload"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "ListMultipartUploads"
  | "ListParts"
  | "PutObject"
  | "GetObject"
  | "HeadObject"
  | "HeadBucket"
  | "ListObjectsV2"
  | "DeleteObject"
  | "Other";

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly operation: S3Operation;
  /** Part number of UploadPart requests. */
  readonly partNumber?: number;
  /** Bytes of request body the proxy saw (Content-Length of UploadPart / PutObject). */
  readonly contentLength?: number;
  readonly checksumHeaders: readonly string[];
  /** Names of every request header (lower case). */
  readonly headers: readonly string[];
  /** What the proxy did to it, when not a plain forward. */
  fault?: "failed" | "dropped" | "rejected-checksum" | "truncated";
  status?: number;
}

export interface S3FaultProxy {
  /** Point the S3 client here (path-style); requests go on to `upstream` with their Host header intact, so SigV4 still verifies. */
  readonly endpoint: string;
  readonly upstream: string;
  readonly requests: readonly ProxiedRequest[];
  setRules(rules: FaultRules): void;
  /** Forgets recorded requests and per-part failure counts. */
  reset(): void;
  count(operation: S3Operation, fault?: ProxiedRequest["fault"]): number;
  close(): Promise<void>;
}

/**
 * A fault-injecting reverse proxy in front of a real S3 server (radosgw) on loopback: it fails
 * UploadPart requests with 5xx/SlowDown, refuses x-amz-checksum-* headers, or cuts connections in
 * the middle of an upload, and records every request so tests can count parts and retries.
 */
export async function startS3FaultProxy(upstream: string, initial: FaultRules = {}): Promise<S3FaultProxy> {
  const target = new URL(upstream);
  let rules = initial;
  let random = seeded(initial.seed ?? 1);
  const requests: ProxiedRequest[] = [];
  const perPart = new Map<string, { failed: number; dropped: number }>();
  const agent = new http.Agent({ keepAlive: true });

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const q = url.searchParams;
    const operation = classify(req.method ?? "GET", url.pathname, q);
    const checksumHeaders = Object.keys(req.headers).filter(
      (h) => h.startsWith("x-amz-checksum-") || h === "x-amz-sdk-checksum-algorithm",
    );
    const partNumber = q.get("partNumber");
    const contentLength = req.headers["content-length"];
    const record: ProxiedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      operation,
      ...(partNumber ? { partNumber: Number(partNumber) } : {}),
      ...(contentLength ? { contentLength: Number(contentLength) } : {}),
      checksumHeaders,
      headers: Object.keys(req.headers),
    };
    requests.push(record);
    res.on("finish", () => {
      record.status = res.statusCode;
    });

    if (rules.rejectChecksumHeaders && checksumHeaders.length > 0) {
      record.fault = "rejected-checksum";
      return answerError(
        req,
        res,
        501,
        "NotImplemented",
        `Header '${checksumHeaders[0]}' with value '${String(req.headers[checksumHeaders[0] ?? ""])}' not implemented`,
      );
    }
    const partKey = operation === "UploadPart" ? `${q.get("uploadId")}#${partNumber}` : undefined;
    const counts = partKey ? (perPart.get(partKey) ?? { failed: 0, dropped: 0 }) : undefined;
    if (partKey && counts) perPart.set(partKey, counts);

    const fail = rules.failParts;
    if (
      counts &&
      fail &&
      counts.failed < (fail.maxPerPart ?? Number.POSITIVE_INFINITY) &&
      random() < fail.rate
    ) {
      counts.failed += 1;
      record.fault = "failed";
      const status = fail.status ?? 503;
      const code = fail.code ?? (status === 503 ? "SlowDown" : "InternalError");
      return answerError(req, res, status, code, "injected by the vsnap fault proxy");
    }
    const drop = rules.dropParts;
    const dropAfter =
      counts && drop && counts.dropped < (drop.maxPerPart ?? Number.POSITIVE_INFINITY) && random() < drop.rate
        ? (drop.afterBytes ?? 64 * 1024)
        : undefined;
    if (counts && dropAfter !== undefined) {
      counts.dropped += 1;
      record.fault = "dropped";
    }
    forward(req, res, record, dropAfter);
  });

  function forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    record: ProxiedRequest,
    dropAfter?: number,
  ) {
    const upstreamReq = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // Expect is never signed; dropping it keeps the proxy a plain stream copier
        headers: Object.fromEntries(Object.entries(req.headers).filter(([name]) => name !== "expect")),
        agent,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        const truncate = rules.truncateGets;
        if (truncate && record.operation === "GetObject" && (upstreamRes.statusCode ?? 0) < 300) {
          let sent = 0;
          upstreamRes.on("data", (chunk: Buffer) => {
            if (sent + chunk.length >= truncate.afterBytes) {
              res.write(chunk.subarray(0, Math.max(0, truncate.afterBytes - sent)));
              record.fault = "truncated";
              upstreamRes.destroy();
              res.socket?.destroy();
              return;
            }
            sent += chunk.length;
            res.write(chunk);
          });
          upstreamRes.on("end", () => res.end());
          return;
        }
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on("error", () => res.socket?.destroy());
    if (dropAfter === undefined) {
      req.pipe(upstreamReq);
      return;
    }
    // forward the first bytes, then cut both sides as a failing network would
    let seen = 0;
    req.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen >= dropAfter) {
        upstreamReq.destroy();
        req.socket.destroy();
        return;
      }
      upstreamReq.write(chunk);
    });
    req.on("end", () => upstreamReq.end());
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    upstream,
    requests,
    setRules(next: FaultRules) {
      rules = next;
      random = seeded(next.seed ?? 1);
    },
    reset() {
      requests.length = 0;
      perPart.clear();
    },
    count(operation, fault) {
      return requests.filter((r) => r.operation === operation && (fault === undefined || r.fault === fault))
        .length;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

function classify(method: string, path: string, q: URLSearchParams): S3Operation {
  const hasKey = path.split("/").filter(Boolean).length > 1;
  switch (method) {
    case "PUT":
      return q.has("partNumber") && q.has("uploadId") ? "UploadPart" : hasKey ? "PutObject" : "Other";
    case "POST":
      if (q.has("uploads")) return "CreateMultipartUpload";
      return q.has("uploadId") ? "CompleteMultipartUpload" : "Other";
    case "DELETE":
      if (q.has("uploadId")) return "AbortMultipartUpload";
      return hasKey ? "DeleteObject" : "Other";
    case "HEAD":
      return hasKey ? "HeadObject" : "HeadBucket";
    case "GET":
      if (q.has("uploads")) return "ListMultipartUploads";
      if (q.has("uploadId")) return "ListParts";
      if (!hasKey) return q.get("list-type") === "2" ? "ListObjectsV2" : "Other";
      return "GetObject";
    default:
      return "Other";
  }
}

/** Drains the request body (so the client is not cut off mid-send), then answers with an S3 error document. */
function answerError(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  code: string,
  message: string,
): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><RequestId>vsnap-fault-proxy</RequestId></Error>`;
  req.resume();
  req.on("end", () => {
    res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** mulberry32: a small deterministic generator, so a failing run can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
