import { ApiError, badRequest } from "./errors.js";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch (`application/merge-patch+json`). */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

/**
 * The list fields Kubernetes merges by key in a strategic merge patch (`patchMergeKey` in the Go
 * types) for the resources this server knows; every other list is replaced, as in a merge patch.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  ports: "containerPort",
  imagePullSecrets: "name",
  hostAliases: "ip",
  conditions: "type",
  ownerReferences: "uid",
  volumeClaimTemplates: "metadata.name",
};
/** Lists of scalars that strategic merge unions rather than replaces. */
const MERGED_SCALAR_LISTS = new Set(["finalizers"]);

/**
 * `application/strategic-merge-patch+json` as kubectl's client-side apply and `kubectl patch`
 * send it: maps merge, keyed lists merge by their key, `$patch: delete|replace`,
 * `$deleteFromPrimitiveList/<f>` and `$retainKeys` are honoured, `$setElementOrder/<f>` orders.
 */
export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  if (patch.$patch === "replace") {
    const { $patch: _drop, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === "delete") return null;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  const retain = Array.isArray(patch.$retainKeys) ? new Set(patch.$retainKeys.map(String)) : undefined;
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$retainKeys" || k === "$patch") continue;
    if (k.startsWith("$setElementOrder/")) continue;
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const mergeKey = MERGE_KEYS[k];
    if (Array.isArray(v) && mergeKey) out[k] = mergeKeyedList(out[k], v, mergeKey);
    else if (Array.isArray(v) && MERGED_SCALAR_LISTS.has(k) && Array.isArray(out[k]))
      out[k] = [...new Set([...(out[k] as Json[]), ...v])];
    else if (isObject(v)) {
      const merged = strategicMergePatch(out[k] ?? null, v);
      if (merged === null) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  for (const [k, v] of Object.entries(patch)) {
    if (!k.startsWith("$setElementOrder/") || !Array.isArray(v)) continue;
    const field = k.slice("$setElementOrder/".length);
    const mergeKey = MERGE_KEYS[field];
    const list = out[field];
    if (Array.isArray(list)) out[field] = orderList(list, v, mergeKey);
  }
  if (retain) for (const k of Object.keys(out)) if (!retain.has(k)) delete out[k];
  return out;
}

function keyOf(item: Json, mergeKey: string): string | undefined {
  let cur: Json | undefined = item;
  for (const p of mergeKey.split(".")) cur = isObject(cur) ? cur[p] : undefined;
  return cur === undefined || cur === null ? undefined : String(cur);
}

function mergeKeyedList(current: Json | undefined, patch: Json[], mergeKey: string): Json[] {
  const out: Json[] = Array.isArray(current) ? [...current] : [];
  for (const item of patch) {
    const key = keyOf(item, mergeKey);
    const at = key === undefined ? -1 : out.findIndex((x) => keyOf(x, mergeKey) === key);
    if (isObject(item) && item.$patch === "delete") {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = strategicMergePatch(out[at] ?? null, item);
    else out.push(stripDirectives(item));
  }
  return out;
}

function orderList(list: Json[], order: Json[], mergeKey: string | undefined): Json[] {
  const rank = (x: Json) => {
    const id = mergeKey ? keyOf(x, mergeKey) : JSON.stringify(x);
    const i = order.findIndex((o) => (mergeKey ? keyOf(o, mergeKey) : JSON.stringify(o)) === id);
    return i < 0 ? order.length : i;
  };
  return [...list].sort((a, b) => rank(a) - rank(b));
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith("$")) out[k] = stripDirectives(x);
  return out;
}

interface Operation {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

/** RFC 6902 JSON patch (`application/json-patch+json`, `kubectl patch --type=json`). */
export function jsonPatch(target: Json, operations: unknown): Json {
  if (!Array.isArray(operations)) throw badRequest("json patch must be a list of operations");
  let doc: Json = structuredClone(target);
  for (const raw of operations as Operation[]) {
    const path = parsePointer(raw.path);
    switch (raw.op) {
      case "add":
        doc = put(doc, path, raw.value ?? null, "add");
        break;
      case "replace":
        get(doc, path, raw.path);
        doc = put(doc, path, raw.value ?? null, "replace");
        break;
      case "remove":
        get(doc, path, raw.path);
        doc = remove(doc, path);
        break;
      case "test":
        if (JSON.stringify(get(doc, path, raw.path)) !== JSON.stringify(raw.value))
          throw new ApiError(
            422,
            "Invalid",
            `the server rejected our request due to an error in our request: testing value ${raw.path} failed`,
          );
        break;
      case "move":
      case "copy": {
        const from = parsePointer(raw.from ?? "");
        const value = structuredClone(get(doc, from, raw.from ?? ""));
        if (raw.op === "move") doc = remove(doc, from);
        doc = put(doc, path, value, "add");
        break;
      }
      default:
        throw badRequest(`Unexpected kind: ${raw.op}`);
    }
  }
  return doc;
}

function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw badRequest(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function get(doc: Json, path: string[], raw: string): Json {
  let cur: Json | undefined = doc;
  for (const p of path) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined)
      throw new ApiError(
        422,
        "Invalid",
        `the server rejected our request due to an error in our request: missing value at ${raw}`,
      );
  }
  return cur;
}

function put(doc: Json, path: string[], value: Json, mode: "add" | "replace"): Json {
  if (path.length === 0) return value;
  const parent = get(doc, path.slice(0, -1), `/${path.slice(0, -1).join("/")}`);
  const last = path[path.length - 1] ?? "";
  if (Array.isArray(parent)) {
    const i = last === "-" ? parent.length : Number(last);
    if (mode === "add") parent.splice(i, 0, value);
    else parent[i] = value;
  } else if (isObject(parent)) parent[last] = value;
  else throw badRequest(`cannot add at ${path.join("/")}`);
  return doc;
}

function remove(doc: Json, path: string[]): Json {
  const parent = get(doc, path.slice(0, -1), `/${path.slice(0, -1).join("/")}`);
  const last = path[path.length - 1] ?? "";
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (isObject(parent)) delete parent[last];
  return doc;
}

export type PatchType = "merge" | "strategic" | "json" | "apply";

export function patchTypeOf(contentType: string | undefined): PatchType {
  const ct = (contentType ?? "").split(";")[0]?.trim();
  switch (ct) {
    case "application/merge-patch+json":
      return "merge";
    case "application/strategic-merge-patch+json":
      return "strategic";
    case "application/json-patch+json":
      return "json";
    case "application/apply-patch+yaml":
    case "application/apply-patch+cbor":
      return "apply";
    default:
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
      );
  }
}

export function applyPatch(type: PatchType, target: Json, patch: Json): Json {
  switch (type) {
    case "merge":
      return mergePatch(target, patch);
    case "strategic":
      return strategicMergePatch(target, patch);
    case "json":
      return jsonPatch(target, patch);
    case "apply":
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        "server-side apply is not implemented by this test API server; use client-side apply (kubectl apply without --server-side)",
      );
  }
}

export type { Json, JsonObject };
