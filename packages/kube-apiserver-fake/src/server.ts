import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import nodePath from "node:path";
import { createTestPki } from "@vsnap/test-servers/tls";
import { Etcd3, type IOptions } from "etcd3";
import { ApiError, badRequest, methodNotAllowed, resourceNotFound } from "./errors.js";
import { openApiGroupVersion, openApiRoot } from "./openapi.js";
import { applyPatch, type Json, patchTypeOf } from "./patch.js";
import { apiVersionOf, ResourceRegistry, type ResourceType } from "./resources.js";
import type { KubeObject } from "./selectors.js";
import { ObjectStore, type WatchEvent } from "./store.js";
import { type IncludeObject, partialMetadata, toTable } from "./table.js";

export interface SimulatedController {
  readonly name: string;
  start(context: ControllerContext): void | Promise<void>;
  stop(): void | Promise<void>;
}

export interface ControllerContext {
  readonly store: ObjectStore;
  readonly resources: ResourceRegistry;
  readonly log: (message: string) => void;
}

export interface FakeApiServerOptions {
  /** The etcd the objects live in (the real one: a snapshot of it is a snapshot of the test cluster). */
  readonly etcd: { endpoints: string[]; tls?: { ca: Buffer; cert: Buffer; key: Buffer } };
  readonly host?: string;
  readonly port?: number;
  /** The serving certificate; a throwaway CA and certificate for 127.0.0.1 are made when omitted. */
  readonly tls?: { cert: Buffer; key: Buffer; ca: Buffer };
  /** Start from the built-ins and add or replace types (issue 7: VolumeSnapshots, PVs). */
  readonly resources?: ResourceRegistry;
  readonly controllers?: readonly SimulatedController[];
  /** Namespaces created at start when missing. */
  readonly namespaces?: readonly string[];
  /** Interval of BOOKMARK events on watches that allow them. */
  readonly bookmarkIntervalMs?: number;
  readonly log?: (message: string) => void;
}

export interface FakeApiServer {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** The CA that signed the serving certificate (PEM). */
  readonly ca: Buffer;
  readonly store: ObjectStore;
  readonly resources: ResourceRegistry;
  /** A kubeconfig (YAML) for this server, context `vsnap-fake`. */
  kubeconfig(options?: { namespace?: string; context?: string }): string;
  /** Starts another simulated controller on the running server. */
  addController(controller: SimulatedController): Promise<void>;
  close(): Promise<void>;
}

const VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0-vsnap-fake",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2026-01-01T00:00:00Z",
  goVersion: "go1.23.0",
  compiler: "gc",
  platform: "linux/amd64",
};

const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/** Starts the test API server on loopback over the given etcd. */
export async function startFakeApiServer(options: FakeApiServerOptions): Promise<FakeApiServer> {
  const resources = options.resources ?? new ResourceRegistry();
  const etcdOptions: IOptions = { hosts: options.etcd.endpoints };
  if (options.etcd.tls)
    etcdOptions.credentials = {
      rootCertificate: options.etcd.tls.ca,
      certChain: options.etcd.tls.cert,
      privateKey: options.etcd.tls.key,
    };
  const etcd = new Etcd3(etcdOptions);
  const store = new ObjectStore(etcd, resources);
  const log = options.log ?? (() => {});
  const watches = new Set<AbortController>();
  const controllers: SimulatedController[] = [];
  const bookmarkMs = options.bookmarkIntervalMs ?? 5_000;

  await ensureNamespaces(store, resources, options.namespaces ?? ["default", "kube-system", "kube-public"]);

  let pkiDir: string | undefined;
  let tls = options.tls;
  if (!tls) {
    pkiDir = mkdtempSync(nodePath.join(os.tmpdir(), "vsnap-apiserver-pki-"));
    const pki = createTestPki(pkiDir, "vsnap-fake-apiserver");
    tls = { cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile), ca: pki.ca };
  }
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      const apiError =
        error instanceof ApiError
          ? error
          : new ApiError(500, "InternalError", `Internal error occurred: ${(error as Error).message}`);
      if (!(error instanceof ApiError)) log(`internal error: ${(error as Error).stack ?? String(error)}`);
      if (res.headersSent) {
        res.end();
        return;
      }
      sendJson(res, apiError.code, apiError.toStatus());
    });
  });
  server.keepAliveTimeout = 30_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    log(`${req.method} ${url.pathname}${url.search}`);
    if (req.method === "GET" && (path === "/healthz" || path === "/livez" || path === "/readyz")) {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (req.method === "GET" && path === "/version") return sendJson(res, 200, VERSION);
    if (req.method === "GET" && path === "/api")
      return sendJson(res, 200, {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: `${host}:${port}` }],
      });
    if (req.method === "GET" && path === "/apis") return sendJson(res, 200, groupList());
    if (req.method === "GET" && path === "/openapi/v3") return sendJson(res, 200, openApiRoot(resources));
    if (req.method === "GET" && path.startsWith("/openapi/v3/")) {
      const gv = path.slice("/openapi/v3/".length).split("/");
      const doc =
        gv[0] === "api" && gv.length === 2
          ? openApiGroupVersion(resources, "", gv[1] ?? "")
          : gv[0] === "apis" && gv.length === 3
            ? openApiGroupVersion(resources, gv[1] ?? "", gv[2] ?? "")
            : undefined;
      if (doc) return sendJson(res, 200, doc);
    }
    const parts = path.split("/").filter((p) => p.length > 0);
    let group: string;
    let version: string | undefined;
    let rest: string[];
    if (parts[0] === "api") {
      group = "";
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === "apis" && parts[1]) {
      group = parts[1];
      version = parts[2];
      rest = parts.slice(3);
    } else {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("404 page not found\n");
      return;
    }
    const versions = resources.groups().get(group);
    if (!versions) throw resourceNotFound();
    if (!version) {
      if (req.method !== "GET") throw resourceNotFound();
      return sendJson(res, 200, { kind: "APIGroup", apiVersion: "v1", ...groupInfo(group, versions) });
    }
    if (!versions.includes(version)) throw resourceNotFound();
    if (rest.length === 0) {
      if (req.method !== "GET") throw resourceNotFound();
      return sendJson(res, 200, resourceList(group, version));
    }
    // apimachinery's RequestInfo: /namespaces/NS/RESOURCE/NAME/SUB, or /namespaces/NAME[/status|finalize]
    let namespace: string | undefined;
    if (rest[0] === "namespaces" && rest.length > 2 && rest[2] !== "status" && rest[2] !== "finalize") {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource, ...extra] = rest;
    const rt = plural ? resources.lookup(group, version, plural) : undefined;
    if (!rt || extra.length > 0) throw resourceNotFound();
    if (
      subresource &&
      !(
        (subresource === "status" && rt.statusSubresource) ||
        (subresource === "scale" && rt.scaleSubresource)
      )
    )
      throw resourceNotFound();
    if (namespace && !rt.namespaced) throw resourceNotFound();
    const q = url.searchParams;
    const dryRun = q.getAll("dryRun").includes("All");
    const accept = String(req.headers.accept ?? "");

    if (!name) {
      if (req.method === "GET") {
        if (q.get("watch") === "true" || q.get("watch") === "1")
          return serveWatch(req, res, rt, namespace, q, accept);
        const listed = await store.list(rt, namespace, {
          labelSelector: q.get("labelSelector"),
          fieldSelector: q.get("fieldSelector"),
          limit: q.has("limit") ? Number(q.get("limit")) : 0,
          continue: q.get("continue"),
          resourceVersion: q.get("resourceVersion"),
          resourceVersionMatch: q.get("resourceVersionMatch"),
        });
        const listMeta: Record<string, unknown> = { resourceVersion: listed.resourceVersion };
        if (listed.continue) listMeta.continue = listed.continue;
        if (wantsTable(accept))
          return sendJson(res, 200, toTable(rt, listed.items, listMeta, includeObject(q)));
        if (wantsPartial(accept))
          return sendJson(res, 200, {
            kind: "PartialObjectMetadataList",
            apiVersion: "meta.k8s.io/v1",
            metadata: listMeta,
            items: listed.items.map(partialMetadata),
          });
        return sendJson(res, 200, {
          kind: `${rt.kind}List`,
          apiVersion: apiVersionOf(rt),
          metadata: listMeta,
          items: listed.items,
        });
      }
      if (req.method === "POST") {
        if (rt.namespaced && !namespace) throw methodNotAllowed("create", rt.kind);
        const body = (await readJson(req)) as KubeObject;
        const created = await store.create(rt, namespace, body, { dryRun });
        return sendObject(res, 201, rt, created, accept);
      }
      if (req.method === "DELETE") {
        const listed = await store.list(rt, namespace, {
          labelSelector: q.get("labelSelector"),
          fieldSelector: q.get("fieldSelector"),
        });
        const items: KubeObject[] = [];
        for (const item of listed.items) {
          const out = await store
            .delete(rt, item.metadata.namespace, item.metadata.name ?? "", { dryRun })
            .catch((e: unknown) => {
              if (e instanceof ApiError && e.code === 404) return undefined;
              throw e;
            });
          if (out) items.push(out.object);
        }
        return sendJson(res, 200, {
          kind: `${rt.kind}List`,
          apiVersion: apiVersionOf(rt),
          metadata: {},
          items,
        });
      }
      throw methodNotAllowed(String(req.method), rt.kind);
    }

    const ns = rt.namespaced ? namespace : undefined;
    if (rt.namespaced && !ns) throw resourceNotFound();
    const sub = subresource === "status" ? ("status" as const) : undefined;
    if (subresource === "scale") return serveScale(req, res, rt, ns, name, dryRun);
    switch (req.method) {
      case "GET":
        return sendObject(res, 200, rt, await store.get(rt, ns, name), accept);
      case "PUT": {
        const body = (await readJson(req)) as KubeObject;
        const out = await store.replace(rt, ns, name, body, { dryRun, ...(sub ? { subresource: sub } : {}) });
        return sendObject(res, 200, rt, out.object, accept);
      }
      case "PATCH": {
        const type = patchTypeOf(req.headers["content-type"]);
        const patch = (await readJson(req)) as Json;
        const out = await store.patch(rt, ns, name, type, patch, {
          dryRun,
          ...(sub ? { subresource: sub } : {}),
        });
        return sendObject(res, 200, rt, out.object, accept);
      }
      case "DELETE": {
        if (sub) throw methodNotAllowed("delete", `${rt.kind}/status`);
        const body = (await readJson(req, true)) as {
          preconditions?: { uid?: string; resourceVersion?: string };
          dryRun?: string[];
        } | null;
        const out = await store.delete(rt, ns, name, {
          dryRun: dryRun || (body?.dryRun ?? []).includes("All"),
          ...(body?.preconditions ? { preconditions: body.preconditions } : {}),
        });
        return sendObject(res, out.deleted ? 200 : 202, rt, out.object, accept);
      }
      default:
        throw methodNotAllowed(String(req.method), rt.kind);
    }
  }

  async function serveScale(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rt: ResourceType,
    ns: string | undefined,
    name: string,
    dryRun: boolean,
  ): Promise<void> {
    if (req.method === "GET") return sendJson(res, 200, toScale(await store.get(rt, ns, name)));
    if (req.method !== "PUT" && req.method !== "PATCH") throw methodNotAllowed(String(req.method), "Scale");
    const type = req.method === "PATCH" ? patchTypeOf(req.headers["content-type"]) : undefined;
    const body = (await readJson(req)) as Json;
    const out = await store.update(
      rt,
      ns,
      name,
      (current) => {
        const scale = toScale(current);
        const { resourceVersion: _rv, ...meta } = scale.metadata as Record<string, unknown>;
        const next = (
          type ? applyPatch(type, { ...scale, metadata: meta } as unknown as Json, body) : body
        ) as {
          spec?: { replicas?: number };
          metadata?: { resourceVersion?: string };
        };
        const spec = {
          ...((current.spec as Record<string, unknown>) ?? {}),
          replicas: next.spec?.replicas ?? 0,
        };
        return {
          ...current,
          metadata: { ...current.metadata, resourceVersion: next.metadata?.resourceVersion },
          spec,
        } as KubeObject;
      },
      { dryRun },
    );
    return sendJson(res, 200, toScale(out.object));
  }

  async function serveWatch(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rt: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
    accept: string,
  ): Promise<void> {
    const abort = new AbortController();
    watches.add(abort);
    const table = wantsTable(accept);
    const include = includeObject(q);
    res.writeHead(200, {
      "content-type": "application/json",
      "transfer-encoding": "chunked",
      "cache-control": "no-cache",
    });
    // client-node awaits the headers before it reports the watch as started (informers hang otherwise)
    res.flushHeaders();
    const write = (event: WatchEvent) => {
      if (res.writableEnded) return;
      let object = event.object;
      if (table && (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED"))
        object = toTable(
          rt,
          [object as KubeObject],
          { resourceVersion: (object as KubeObject).metadata.resourceVersion },
          include,
        );
      res.write(`${JSON.stringify({ type: event.type, object })}\n`);
      if (event.type === "ERROR") finish();
    };
    let bookmarks: NodeJS.Timeout | undefined;
    let timeout: NodeJS.Timeout | undefined;
    const finish = () => {
      clearInterval(bookmarks);
      clearTimeout(timeout);
      abort.abort();
      watches.delete(abort);
      if (!res.writableEnded) res.end();
    };
    req.on("close", finish);
    res.on("close", finish);
    const seconds = Number(q.get("timeoutSeconds") ?? 0);
    timeout = setTimeout(finish, (seconds > 0 ? seconds : 1800) * 1000);
    try {
      const handle = await store.watch(
        rt,
        namespace,
        {
          resourceVersion: q.get("resourceVersion"),
          labelSelector: q.get("labelSelector"),
          fieldSelector: q.get("fieldSelector"),
          sendInitialEvents: q.get("sendInitialEvents") === "true",
          signal: abort.signal,
        },
        write,
      );
      if (q.get("allowWatchBookmarks") === "true" && !abort.signal.aborted)
        bookmarks = setInterval(
          () =>
            write({
              type: "BOOKMARK",
              object: {
                kind: rt.kind,
                apiVersion: apiVersionOf(rt),
                metadata: { resourceVersion: handle.lastRevision() },
              },
            }),
          bookmarkMs,
        );
    } catch (error) {
      const status =
        error instanceof ApiError
          ? error.toStatus()
          : new ApiError(500, "InternalError", (error as Error).message).toStatus();
      write({ type: "ERROR", object: status });
    }
  }

  function groupInfo(group: string, versions: string[]) {
    const gv = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
    return { name: group, versions: gv, preferredVersion: gv[0] };
  }

  function groupList() {
    const groups = [...resources.groups()].filter(([g]) => g !== "").map(([g, v]) => groupInfo(g, v));
    return { kind: "APIGroupList", apiVersion: "v1", groups };
  }

  function resourceList(group: string, version: string) {
    const out: Record<string, unknown>[] = [];
    for (const rt of resources.all()) {
      if (rt.group !== group || rt.version !== version) continue;
      out.push({
        name: rt.plural,
        singularName: rt.singular,
        namespaced: rt.namespaced,
        kind: rt.kind,
        verbs: VERBS,
        ...(rt.shortNames ? { shortNames: rt.shortNames } : {}),
        ...(rt.categories ? { categories: rt.categories } : {}),
      });
      if (rt.statusSubresource)
        out.push({
          name: `${rt.plural}/status`,
          singularName: "",
          namespaced: rt.namespaced,
          kind: rt.kind,
          verbs: ["get", "patch", "update"],
        });
    }
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group ? `${group}/${version}` : version,
      resources: out,
    };
  }

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `https://${host}:${port}`;
  const ca = tls.ca;
  const context: ControllerContext = { store, resources, log };
  const api: FakeApiServer = {
    url,
    port,
    ca,
    store,
    resources,
    kubeconfig: (o = {}) => kubeconfigYaml(url, ca, o.context ?? "vsnap-fake", o.namespace ?? "default"),
    async addController(controller) {
      controllers.push(controller);
      await controller.start(context);
    },
    async close() {
      for (const c of controllers.reverse()) await c.stop();
      for (const w of watches) w.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      etcd.close();
      if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
    },
  };
  for (const c of options.controllers ?? []) await api.addController(c);
  return api;
}

async function ensureNamespaces(
  store: ObjectStore,
  resources: ResourceRegistry,
  names: readonly string[],
): Promise<void> {
  const rt = resources.lookup("", "v1", "namespaces");
  if (!rt) return;
  for (const name of names) {
    await store.create(rt, undefined, { metadata: { name } }).catch((e: unknown) => {
      if (!(e instanceof ApiError && e.code === 409)) throw e;
    });
  }
}

export function kubeconfigYaml(server: string, ca: Buffer, context: string, namespace: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${context}`,
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${ca.toString("base64")}`,
    "users:",
    `- name: ${context}`,
    "  user:",
    "    token: vsnap-fake-token",
    "contexts:",
    `- name: ${context}`,
    "  context:",
    `    cluster: ${context}`,
    `    user: ${context}`,
    `    namespace: ${namespace}`,
    `current-context: ${context}`,
    "",
  ].join("\n");
}

/** The autoscaling/v1 Scale view of a workload. */
function toScale(o: KubeObject): Record<string, unknown> & { metadata: unknown } {
  const spec = (o.spec ?? {}) as { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  const status = (o.status ?? {}) as { replicas?: number };
  const selector = Object.entries(spec.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const m = o.metadata;
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: status.replicas ?? 0, selector },
  };
}

function wantsTable(accept: string): boolean {
  return /as=Table/.test(accept.split(",")[0] ?? "");
}
function wantsPartial(accept: string): boolean {
  return /as=PartialObjectMetadata/.test(accept.split(",")[0] ?? "");
}
function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get("includeObject");
  return v === "None" || v === "Object" ? v : "Metadata";
}

function sendObject(
  res: http.ServerResponse,
  code: number,
  rt: ResourceType,
  object: KubeObject,
  accept: string,
): void {
  const body = wantsTable(accept)
    ? toTable(rt, [object], { resourceVersion: object.metadata.resourceVersion })
    : wantsPartial(accept)
      ? partialMetadata(object)
      : object;
  sendJson(res, code, body);
}

function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: http.IncomingMessage, optional = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (!text) {
    if (optional) return null;
    throw badRequest("the request body is empty");
  }
  const ct = String(req.headers["content-type"] ?? "");
  if (ct.includes("protobuf") || ct.includes("cbor"))
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: application/json`,
    );
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badRequest(`the object provided is unrecognized: ${(error as Error).message}`);
  }
}
