import { randomUUID } from "node:crypto";
import type { Etcd3, IKeyValue, Watcher } from "etcd3";
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  expired,
  type FieldCause,
  invalid,
  MODIFIED,
  notFound,
  type StatusObject,
} from "./errors.js";
import { applyPatch, type Json, type PatchType } from "./patch.js";
import { apiVersionOf, type ResourceRegistry, type ResourceType } from "./resources.js";
import { type KubeObject, parseFieldSelector, parseLabelSelector } from "./selectors.js";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject | StatusObject | Record<string, unknown>;
}

export interface ListOptions {
  labelSelector?: string | null;
  fieldSelector?: string | null;
  limit?: number;
  continue?: string | null;
  resourceVersion?: string | null;
  resourceVersionMatch?: string | null;
}
export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}
export interface WriteOptions {
  dryRun?: boolean;
  subresource?: "status";
}
export interface DeleteOptions {
  dryRun?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
}
export interface WatchOptions {
  resourceVersion?: string | null;
  labelSelector?: string | null;
  fieldSelector?: string | null;
  sendInitialEvents?: boolean;
  signal: AbortSignal;
}

const enc = (s: string) => Buffer.from(s, "utf8");
/** The first key after every key starting with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if ((b[i] ?? 0) < 0xff) {
      const out = Buffer.from(b.subarray(0, i + 1));
      out[i] = (out[i] ?? 0) + 1;
      return out;
    }
  }
  return Buffer.from([0]);
}

const isCompacted = (e: unknown) => /compacted/i.test((e as Error)?.message ?? "");
const NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789";
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const CONTINUE_TOO_OLD =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

const nowRfc3339 = () => `${new Date().toISOString().slice(0, 19)}Z`;

/**
 * Objects of every registered type as JSON in etcd, under kube-apiserver's key layout;
 * resourceVersion is the key's mod_revision and watches are etcd watches.
 */
export class ObjectStore {
  constructor(
    readonly etcd: Etcd3,
    readonly resources: ResourceRegistry,
  ) {}

  keyFor(rt: ResourceType, namespace: string | undefined, name: string): string {
    return rt.namespaced ? `${rt.storagePrefix}/${namespace}/${name}` : `${rt.storagePrefix}/${name}`;
  }

  prefixFor(rt: ResourceType, namespace?: string): string {
    return rt.namespaced && namespace ? `${rt.storagePrefix}/${namespace}/` : `${rt.storagePrefix}/`;
  }

  decode(rt: ResourceType, kv: IKeyValue, revision?: string): KubeObject {
    const stored = JSON.parse(kv.value.toString("utf8")) as KubeObject;
    stored.metadata.resourceVersion = revision ?? kv.mod_revision;
    return rt.fromStorage
      ? rt.fromStorage(stored)
      : { ...stored, apiVersion: apiVersionOf(rt), kind: rt.kind };
  }

  encode(rt: ResourceType, object: KubeObject): Buffer {
    const out = rt.toStorage ? rt.toStorage(structuredClone(object)) : structuredClone(object);
    // like kube-apiserver, the version lives in the key's revision, never in the value
    delete out.metadata.resourceVersion;
    return enc(JSON.stringify(out));
  }

  async revision(): Promise<string> {
    const res = await this.etcd.kv.range({ key: enc("\0"), limit: 1, keys_only: true, count_only: true });
    return res.header.revision;
  }

  async #read(key: string): Promise<IKeyValue | undefined> {
    const res = await this.etcd.kv.range({ key: enc(key) });
    return res.kvs[0];
  }

  async get(rt: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject> {
    const kv = await this.#read(this.keyFor(rt, namespace, name));
    if (!kv) throw notFound(rt.group, rt.plural, name);
    return this.decode(rt, kv);
  }

  async list(
    rt: ResourceType,
    namespace: string | undefined,
    options: ListOptions = {},
  ): Promise<ListResult> {
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector);
    const prefix = this.prefixFor(rt, namespace);
    const end = prefixEnd(prefix);
    let start = enc(prefix);
    let revision = 0;
    if (options.continue) {
      const token = decodeContinue(options.continue);
      start = Buffer.concat([enc(prefix), enc(token.start)]);
      revision = token.rv;
    } else if (options.resourceVersionMatch === "Exact" && options.resourceVersion) {
      revision = Number(options.resourceVersion);
    }
    const limit = options.limit && options.limit > 0 ? options.limit : 0;
    const items: KubeObject[] = [];
    let nextKey: Buffer | undefined;
    for (;;) {
      const batch = limit ? Math.max(limit - items.length, 1) : 500;
      let res: Awaited<ReturnType<Etcd3["kv"]["range"]>>;
      try {
        res = await this.etcd.kv.range({ key: start, range_end: end, limit: batch, revision });
      } catch (error) {
        if (isCompacted(error)) {
          throw options.continue
            ? expired(CONTINUE_TOO_OLD)
            : expired(`too old resource version: ${revision} (${await this.revision()})`);
        }
        throw error;
      }
      if (!revision) revision = Number(res.header.revision);
      for (const kv of res.kvs) {
        const object = this.decode(rt, kv);
        if (labels(object.metadata.labels) && fields(object)) items.push(object);
      }
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
      if (limit && items.length >= limit) {
        nextKey = start;
        break;
      }
    }
    const result: ListResult = { items, resourceVersion: String(revision) };
    if (nextKey)
      result.continue = encodeContinue(
        revision,
        nextKey.subarray(Buffer.byteLength(prefix)).toString("utf8"),
      );
    return result;
  }

  async create(
    rt: ResourceType,
    namespace: string | undefined,
    input: KubeObject,
    options: WriteOptions = {},
  ) {
    const object = structuredClone(input);
    object.apiVersion = apiVersionOf(rt);
    object.kind = rt.kind;
    object.metadata ??= {};
    const meta = object.metadata;
    if (rt.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace)
        throw badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      meta.namespace = namespace ?? meta.namespace;
      if (!meta.namespace)
        throw badRequest("the server could not find the requested resource (namespace required)");
      if (rt.plural !== "namespaces") await this.#requireNamespace(meta.namespace);
    } else delete meta.namespace;
    const generated = !meta.name && !!meta.generateName;
    for (let attempt = 0; ; attempt++) {
      if (generated) meta.name = `${meta.generateName}${randomSuffix()}`;
      this.#validateMeta(rt, object);
      meta.uid = randomUUID();
      meta.creationTimestamp = nowRfc3339();
      delete meta.resourceVersion;
      delete meta.deletionTimestamp;
      delete meta.deletionGracePeriodSeconds;
      if (rt.hasGeneration) meta.generation = 1;
      else delete meta.generation;
      rt.prepare?.(object, undefined);
      this.#validate(rt, object);
      if (options.dryRun) return { ...object, metadata: { ...meta } } as KubeObject;
      const key = enc(this.keyFor(rt, meta.namespace, meta.name ?? ""));
      const res = await this.etcd.kv.txn({
        compare: [{ key, target: "Create", result: "Equal", create_revision: 0 }],
        success: [{ request_put: { key, value: this.encode(rt, object) } }],
      });
      if (res.succeeded) {
        meta.resourceVersion = res.header.revision;
        return object;
      }
      if (!generated || attempt >= 5) throw alreadyExists(rt.group, rt.plural, meta.name ?? "");
    }
  }

  async #requireNamespace(namespace: string): Promise<void> {
    const ns = this.resources.lookup("", "v1", "namespaces");
    if (!ns) return;
    const kv = await this.#read(this.keyFor(ns, undefined, namespace));
    if (!kv) throw notFound("", "namespaces", namespace);
    const object = this.decode(ns, kv);
    if (object.metadata.deletionTimestamp)
      throw new ApiError(
        403,
        "Forbidden",
        `${rtName(ns)} "${namespace}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      );
  }

  #validateMeta(rt: ResourceType, object: KubeObject): void {
    const name = object.metadata.name;
    const causes: FieldCause[] = [];
    if (!name)
      causes.push({
        field: "metadata.name",
        type: "FieldValueRequired",
        detail: "name or generateName is required",
      });
    else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))
      causes.push({ field: "metadata.name", type: "FieldValueInvalid", value: name, detail: SUBDOMAIN_MSG });
    if (causes.length) throw invalid(rt.group, rt.kind, name ?? "", causes);
  }

  #validate(rt: ResourceType, object: KubeObject): void {
    const causes = rt.validate?.(object) ?? [];
    if (causes.length) throw invalid(rt.group, rt.kind, object.metadata.name ?? "", causes);
  }

  /**
   * Read-modify-write with etcd's compare-and-swap, retried on a concurrent write unless the
   * caller gave a resourceVersion precondition (then the conflict is the caller's: 409).
   */
  async update(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    mutate: (current: KubeObject) => KubeObject,
    options: WriteOptions & { createIfMissing?: boolean } = {},
  ): Promise<{ object: KubeObject; deleted?: boolean }> {
    const key = this.keyFor(rt, namespace, name);
    for (;;) {
      const kv = await this.#read(key);
      if (!kv) throw notFound(rt.group, rt.plural, name);
      const current = this.decode(rt, kv);
      const next = mutate(structuredClone(current));
      if (typeof next !== "object" || next === null || Array.isArray(next))
        throw badRequest("the request body must be an object");
      const wanted = next.metadata?.resourceVersion;
      if (wanted && wanted !== current.metadata.resourceVersion)
        throw conflict(rt.group, rt.plural, name, MODIFIED);
      const object = this.#normaliseUpdate(rt, current, next, options.subresource);
      if (!options.subresource) rt.prepare?.(object, current);
      this.#validate(rt, object);
      const deleting = !!object.metadata.deletionTimestamp && !(object.metadata.finalizers ?? []).length;
      if (options.dryRun) return { object, deleted: deleting };
      if (!deleting && sameStored(this.encode(rt, object), kv.value)) return { object: current };
      const compare = [
        { key: enc(key), target: "Mod" as const, result: "Equal" as const, mod_revision: kv.mod_revision },
      ];
      const res = await this.etcd.kv.txn(
        deleting
          ? { compare, success: [{ request_delete_range: { key: enc(key) } }] }
          : { compare, success: [{ request_put: { key: enc(key), value: this.encode(rt, object) } }] },
      );
      if (res.succeeded) {
        object.metadata.resourceVersion = res.header.revision;
        return { object, deleted: deleting };
      }
      if (wanted) throw conflict(rt.group, rt.plural, name, MODIFIED);
    }
  }

  #normaliseUpdate(
    rt: ResourceType,
    current: KubeObject,
    next: KubeObject,
    subresource?: "status",
  ): KubeObject {
    let out: KubeObject;
    if (subresource === "status") {
      out = { ...structuredClone(current), status: next.status };
    } else {
      out = { ...next, metadata: { ...(next.metadata ?? {}) } };
      if (rt.statusSubresource) {
        if (current.status === undefined) delete out.status;
        else out.status = structuredClone(current.status);
      }
    }
    out.apiVersion = apiVersionOf(rt);
    out.kind = rt.kind;
    const m = out.metadata;
    const c = current.metadata;
    // fields a client cannot change
    m.name = c.name;
    if (rt.namespaced) m.namespace = c.namespace;
    m.uid = c.uid;
    m.creationTimestamp = c.creationTimestamp;
    m.resourceVersion = c.resourceVersion;
    if (c.deletionTimestamp) {
      m.deletionTimestamp = c.deletionTimestamp;
      m.deletionGracePeriodSeconds = c.deletionGracePeriodSeconds;
      const added = (m.finalizers ?? []).filter((f) => !(c.finalizers ?? []).includes(f));
      if (added.length)
        throw invalid(rt.group, rt.kind, c.name ?? "", [
          {
            field: "metadata.finalizers",
            type: "FieldValueForbidden",
            detail: "no new finalizers can be added if the object is being deleted",
          },
        ]);
    } else {
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
    }
    if (m.finalizers && m.finalizers.length === 0) delete m.finalizers;
    if (rt.hasGeneration) {
      const specChanged = JSON.stringify(out.spec) !== JSON.stringify(current.spec);
      m.generation = (c.generation ?? 1) + (specChanged && subresource !== "status" ? 1 : 0);
    } else delete m.generation;
    return out;
  }

  async replace(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    options: WriteOptions = {},
  ) {
    if (body.metadata?.name && body.metadata.name !== name)
      throw badRequest(
        `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
      );
    return this.update(rt, namespace, name, () => structuredClone(body), options);
  }

  async patch(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: Json,
    options: WriteOptions = {},
  ) {
    return this.update(
      rt,
      namespace,
      name,
      (current) => {
        const { resourceVersion: _rv, ...meta } = current.metadata;
        // the current version is not a precondition unless the patch itself names one
        const base = { ...current, metadata: meta } as unknown as Json;
        return applyPatch(type, base, patch) as unknown as KubeObject;
      },
      options,
    );
  }

  /** Deletes now, or (with finalizers) marks the object deleting and returns `deleted: false`. */
  async delete(rt: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}) {
    const key = this.keyFor(rt, namespace, name);
    for (;;) {
      const kv = await this.#read(key);
      if (!kv) throw notFound(rt.group, rt.plural, name);
      const current = this.decode(rt, kv);
      const pre = options.preconditions;
      if (pre?.uid && pre.uid !== current.metadata.uid)
        throw conflict(
          rt.group,
          rt.plural,
          name,
          `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`,
        );
      if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion)
        throw conflict(
          rt.group,
          rt.plural,
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`,
        );
      const compare = [
        { key: enc(key), target: "Mod" as const, result: "Equal" as const, mod_revision: kv.mod_revision },
      ];
      if ((current.metadata.finalizers ?? []).length > 0) {
        if (current.metadata.deletionTimestamp || options.dryRun) return { object: current, deleted: false };
        const marked = structuredClone(current);
        marked.metadata.deletionTimestamp = nowRfc3339();
        marked.metadata.deletionGracePeriodSeconds = 0;
        const res = await this.etcd.kv.txn({
          compare,
          success: [{ request_put: { key: enc(key), value: this.encode(rt, marked) } }],
        });
        if (!res.succeeded) continue;
        marked.metadata.resourceVersion = res.header.revision;
        return { object: marked, deleted: false };
      }
      if (options.dryRun) return { object: current, deleted: true };
      const res = await this.etcd.kv.txn({ compare, success: [{ request_delete_range: { key: enc(key) } }] });
      if (!res.succeeded) continue;
      current.metadata.resourceVersion = res.header.revision;
      return { object: current, deleted: true };
    }
  }

  /**
   * Streams watch events until `signal` aborts. Like the apiserver: no resourceVersion (or "0")
   * starts with ADDED for every current object; an explicit one replays later changes, or
   * sends an ERROR 410 when etcd has compacted it; selector transitions become ADDED/DELETED.
   */
  async watch(
    rt: ResourceType,
    namespace: string | undefined,
    options: WatchOptions,
    emit: (event: WatchEvent) => void,
  ): Promise<{ lastRevision: () => string }> {
    const labels = parseLabelSelector(options.labelSelector);
    const fields = parseFieldSelector(options.fieldSelector);
    const matches = (o: KubeObject | undefined) => !!o && labels(o.metadata.labels) && fields(o);
    const prefix = this.prefixFor(rt, namespace);
    let last: string;
    const rv = options.resourceVersion;
    if (!rv || rv === "0" || options.sendInitialEvents) {
      const listed = await this.list(rt, namespace, {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        ...(rv && rv !== "0" ? { resourceVersion: rv, resourceVersionMatch: "Exact" } : {}),
      });
      for (const item of listed.items) emit({ type: "ADDED", object: item });
      last = listed.resourceVersion;
      if (options.sendInitialEvents)
        emit({
          type: "BOOKMARK",
          object: {
            kind: rt.kind,
            apiVersion: apiVersionOf(rt),
            metadata: { resourceVersion: last, annotations: { "k8s.io/initial-events-end": "true" } },
          },
        });
    } else {
      last = rv;
      try {
        await this.etcd.kv.range({
          key: enc(prefix),
          range_end: prefixEnd(prefix),
          revision: Number(rv),
          limit: 1,
          keys_only: true,
        });
      } catch (error) {
        if (!isCompacted(error)) throw error;
        emit({
          type: "ERROR",
          object: expired(`too old resource version: ${rv} (${await this.revision()})`).toStatus(),
        });
        return { lastRevision: () => last };
      }
    }
    if (options.signal.aborted) return { lastRevision: () => last };
    const watcher: Watcher = await this.etcd
      .watch()
      .prefix(prefix)
      .withPreviousKV()
      .startRevision(String(Number(last) + 1))
      .create();
    const stop = () => void watcher.cancel().catch(() => {});
    if (options.signal.aborted) stop();
    else options.signal.addEventListener("abort", stop, { once: true });
    watcher.on("data", (res) => {
      for (const ev of res.events) {
        const revision = ev.kv.mod_revision;
        const before = ev.prev_kv ? this.decode(rt, ev.prev_kv, revision) : undefined;
        const after = ev.type === "Put" ? this.decode(rt, ev.kv) : undefined;
        const was = matches(before);
        const is = matches(after);
        last = revision;
        if (after && is) emit({ type: was ? "MODIFIED" : "ADDED", object: after });
        else if (was && before) emit({ type: "DELETED", object: after ?? before });
        // a delete is reported with the object as it was, at the delete's revision
      }
    });
    watcher.on("error", (error: Error) => {
      const status = isCompacted(error)
        ? expired(`too old resource version: ${last} (${last})`).toStatus()
        : new ApiError(500, "InternalError", `etcd watch failed: ${error.message}`).toStatus();
      emit({ type: "ERROR", object: status });
    });
    return { lastRevision: () => last };
  }
}

function sameStored(a: Buffer, b: Buffer): boolean {
  return a.equals(b);
}

function rtName(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

function randomSuffix(): string {
  let out = "";
  for (let i = 0; i < 5; i++) out += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
  return out;
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start })).toString("base64");
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as {
      v?: string;
      rv?: number;
      start?: string;
    };
    if (parsed.v !== "meta.k8s.io/v1" || typeof parsed.rv !== "number" || typeof parsed.start !== "string")
      throw new Error("bad token");
    return { rv: parsed.rv, start: parsed.start };
  } catch {
    throw badRequest(
      "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
    );
  }
}
