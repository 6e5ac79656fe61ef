import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Misbehaviours of real registries that cannot be reached from here, re-enacted in front of a real
 * docker-registry. Each is what a client sees from that registry; none changes what gets stored.
 */
export interface QuirkRules {
  /** GHCR: a PATCH body over this many bytes gets 416 "exceeds the maximum permissible limit". */
  maxPatchBytes?: number;
  /** ECR: a PATCH body under this many bytes gets 400 (LayerPartTooSmallException). */
  minPatchBytes?: number;
  /** ECR: successful PATCHes answer with this status (201) instead of 202. */
  patchStatus?: number;
  /** POST /blobs/uploads/ answers carry `OCI-Chunk-Min-Length`; smaller PATCHes get 416. */
  chunkMinLength?: number;
  /** Registries without chunked uploads: every PATCH gets 405 UNSUPPORTED. */
  rejectPatch?: boolean;
  /**
   * The n-th PATCHes (1-based) reach the registry only in part (`partialFraction` of the body, default
   * half; 1 = all of it but the answer is lost), and the client gets 416 with the upload's new
   * Location and Range, as after a cut connection: the client must resume from the registry's offset.
   */
  partialPatchAt?: readonly number[];
  partialFraction?: number;
  /**
   * Page the tags list as the spec describes and hosted registries do (`n`, `last`, a
   * `Link: <…>; rel="next"` header); distribution 2.8 ignores `n` and sends every tag at once.
   */
  pageTags?: boolean;
}

export interface ProxiedRequest {
  readonly method: string;
  /** Path without query. */
  readonly path: string;
  readonly bodyBytes: number;
  readonly contentRange?: string;
  /** The status the client saw. */
  readonly status: number;
  /** True when the proxy answered itself (a quirk) instead of the registry. */
  readonly injected: boolean;
}

export interface QuirkProxy {
  readonly url: string;
  readonly host: string;
  /** Mutable: tests switch quirks between operations. */
  rules: QuirkRules;
  readonly requests: ProxiedRequest[];
  close(): Promise<void>;
}

/** A reverse proxy on a free 127.0.0.1 port in front of a plain-HTTP registry at `target`. */
export async function startQuirkProxy(target: string, rules: QuirkRules = {}): Promise<QuirkProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  let patches = 0;
  const state: { rules: QuirkRules } = { rules };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void handle(req, Buffer.concat(chunks), res).catch((error: unknown) => {
        res.writeHead(502);
        res.end(String(error));
      });
    });
  });

  const record = (req: http.IncomingMessage, body: Buffer, status: number, injected: boolean) => {
    const contentRange = req.headers["content-range"];
    requests.push({
      method: req.method ?? "",
      path: (req.url ?? "").replace(/\?.*$/, ""),
      bodyBytes: body.length,
      ...(contentRange ? { contentRange } : {}),
      status,
      injected,
    });
  };

  const reply = (
    req: http.IncomingMessage,
    body: Buffer,
    res: http.ServerResponse,
    status: number,
    errors: { code: string; message: string }[],
    headers: http.OutgoingHttpHeaders = {},
  ) => {
    record(req, body, status, true);
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify({ errors }));
  };

  async function handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const r = state.rules;
    const isPatch = req.method === "PATCH";
    if (isPatch) {
      patches++;
      if (r.rejectPatch) {
        return reply(req, body, res, 405, [
          { code: "UNSUPPORTED", message: "The operation is unsupported." },
        ]);
      }
      if (r.maxPatchBytes !== undefined && body.length > r.maxPatchBytes) {
        const limit = (r.maxPatchBytes / 1024 / 1024).toFixed(2);
        return reply(req, body, res, 416, [
          {
            code: "REQUESTED_RANGE_NOT_SATISFIABLE",
            message: `the request body is too large and exceeds the maximum permissible limit of ${limit}MiB`,
          },
        ]);
      }
      if (r.minPatchBytes !== undefined && body.length < r.minPatchBytes) {
        return reply(req, body, res, 400, [
          {
            code: "BLOB_UPLOAD_INVALID",
            message: "LayerPartTooSmallException: layer part size must be at least 5 MiB",
          },
        ]);
      }
      if (r.chunkMinLength !== undefined && body.length < r.chunkMinLength) {
        return reply(req, body, res, 416, [
          { code: "SIZE_INVALID", message: "chunk smaller than OCI-Chunk-Min-Length" },
        ]);
      }
      if (r.partialPatchAt?.includes(patches)) {
        const sent = Math.floor(body.length * (r.partialFraction ?? 0.5));
        const start = Number(/^(\d+)-/.exec(String(req.headers["content-range"] ?? "0-"))?.[1] ?? 0);
        const partial = await forward(req, body.subarray(0, sent), {
          "content-range": `${start}-${start + sent - 1}`,
        });
        const headers: http.OutgoingHttpHeaders = {};
        for (const name of ["location", "range", "docker-upload-uuid"]) {
          const value = partial.headers[name];
          if (value !== undefined) headers[name] = value;
        }
        return reply(
          req,
          body,
          res,
          416,
          [{ code: "RANGE_INVALID", message: "upload interrupted" }],
          headers,
        );
      }
    }
    const listPath = /^\/v2\/(.+)\/tags\/list$/.exec((req.url ?? "").replace(/\?.*$/, ""));
    if (r.pageTags && req.method === "GET" && listPath) return pageTags(req, body, res);
    const answer = await forward(req, body);
    let status = answer.status;
    if (isPatch && status === 202 && r.patchStatus !== undefined) status = r.patchStatus;
    const headers = { ...answer.headers };
    if (
      req.method === "POST" &&
      /\/blobs\/uploads\/?$/.test((req.url ?? "").replace(/\?.*$/, "")) &&
      r.chunkMinLength
    ) {
      headers["oci-chunk-min-length"] = String(r.chunkMinLength);
    }
    record(req, body, status, false);
    res.writeHead(status, headers);
    res.end(answer.body);
  }

  async function pageTags(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://proxy");
    const n = Number(url.searchParams.get("n") ?? "0");
    const last = url.searchParams.get("last");
    const all = await forward(req, body, {}, `${url.pathname}`);
    if (all.status !== 200) {
      record(req, body, all.status, false);
      res.writeHead(all.status, all.headers);
      res.end(all.body);
      return;
    }
    const doc = JSON.parse(all.body.toString("utf8")) as { name: string; tags: string[] | null };
    const sorted = [...(doc.tags ?? [])].sort();
    const rest = last ? sorted.filter((t) => t > last) : sorted;
    const page = n > 0 ? rest.slice(0, n) : rest;
    const headers: http.OutgoingHttpHeaders = { "content-type": "application/json" };
    if (n > 0 && rest.length > n) {
      headers.link = `<${url.pathname}?n=${n}&last=${encodeURIComponent(page.at(-1)!)}>; rel="next"`;
    }
    record(req, body, 200, true);
    res.writeHead(200, headers);
    res.end(JSON.stringify({ name: doc.name, tags: page }));
  }

  /** Sends the request on to the registry; the Host header stays ours so its Locations point here. */
  function forward(
    req: http.IncomingMessage,
    body: Buffer,
    override: http.OutgoingHttpHeaders = {},
    path = req.url,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const headers: http.OutgoingHttpHeaders = { ...req.headers, ...override };
    delete headers["transfer-encoding"];
    if (req.method !== "GET" && req.method !== "HEAD") headers["content-length"] = String(body.length);
    return new Promise((resolve, reject) => {
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path, headers },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on("data", (c: Buffer) => parts.push(c));
          answer.on("end", () =>
            resolve({
              status: answer.statusCode ?? 502,
              headers: answer.headers,
              body: Buffer.concat(parts),
            }),
          );
          answer.on("error", reject);
        },
      );
      out.on("error", reject);
      out.end(body);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    url: `http://${host}`,
    host,
    get rules() {
      return state.rules;
    },
    set rules(next: QuirkRules) {
      state.rules = next;
      patches = 0;
    },
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
