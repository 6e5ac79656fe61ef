import type { Pools } from "./pools.js";
import type { ProtoWriter } from "./protobuf.js";
import type { Rng } from "./rng.js";

/** What every object builder needs: the scratch writer, the filler pools and the size scale. */
export interface BuildContext {
  readonly w: ProtoWriter;
  readonly pools: Pools;
  /** Multiplies filler sizes (config data, secrets, schemas). */
  readonly scale: number;
  /** A second writer for cached parts, and the cache (a small LRU: an app's objects come together). */
  readonly scratch: ProtoWriter;
  readonly cache: Map<string, Uint8Array>;
}

const CACHE_ENTRIES = 256;

/**
 * Encoded bytes of a part that is identical across an app's objects (its pod template, its
 * container): built once with the scratch writer, then copied in. `build` must not call `cached`.
 */
export function cached(
  ctx: BuildContext,
  owner: { readonly seed: number; readonly name: string } | undefined,
  tag: string,
  build: (w: ProtoWriter) => void,
): Uint8Array {
  const key = owner === undefined ? tag : `${owner.seed}/${owner.name}/${tag}`;
  let bytes = ctx.cache.get(key);
  if (bytes === undefined) {
    build(ctx.scratch.reset());
    bytes = ctx.scratch.finish();
    ctx.cache.set(key, bytes);
    if (ctx.cache.size > CACHE_ENTRIES) ctx.cache.delete(ctx.cache.keys().next().value as string);
  }
  return bytes;
}

export type Pairs = readonly (readonly [string, string])[];

export interface OwnerRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

export interface ManagedFields {
  readonly manager: string;
  readonly operation: "Update" | "Apply";
  readonly apiVersion: string;
  readonly time: number;
  /** FieldsV1 JSON, possibly in parts (joined when written). */
  readonly fields: string | readonly string[];
  readonly subresource?: string;
}

export interface Meta {
  readonly name: string;
  readonly namespace?: string;
  readonly generateName?: string;
  readonly uid: string;
  readonly generation?: number;
  readonly created: number;
  readonly labels?: Pairs;
  readonly annotations?: Pairs;
  readonly owner?: OwnerRef;
  readonly finalizers?: readonly string[];
  readonly managed?: readonly ManagedFields[];
}

// The apiserver's protobuf storage envelope: "k8s\0" + runtime.Unknown{typeMeta, raw, contentEncoding, contentType}.
const MAGIC = new Uint8Array([0x6b, 0x38, 0x73, 0x00]);

export function beginObject(w: ProtoWriter, apiVersion: string, kind: string): void {
  w.reset().raw(MAGIC).begin(1).string(1, apiVersion).string(2, kind).end().begin(2);
}

export function endObject(w: ProtoWriter): Uint8Array {
  // gogo-protobuf writes proto2 non-pointer strings even when empty, hence the two empty fields.
  return w.end().string(3, "").string(4, "").finish();
}

export function time(w: ProtoWriter, field: number, seconds: number): void {
  w.begin(field).int(1, seconds).int(2, 0).end();
}

/** Protobuf map entries are written in key order (generated code sorts them). */
function sortedPairs(pairs: Pairs): Pairs {
  for (let i = 1; i < pairs.length; i++)
    if (pairs[i - 1]![0] > pairs[i]![0]) return [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return pairs;
}

export function pairs(w: ProtoWriter, field: number, entries: Pairs | undefined): void {
  if (entries === undefined) return;
  for (const [k, v] of sortedPairs(entries)) w.entry(field, k, v);
}

/** ObjectMeta as stored: selfLink and resourceVersion are cleared before an object is persisted. */
export function meta(w: ProtoWriter, m: Meta, field = 1): void {
  w.begin(field)
    .string(1, m.name)
    .string(2, m.generateName ?? "")
    .string(3, m.namespace ?? "")
    .string(4, "")
    .string(5, m.uid)
    .string(6, "")
    .int(7, m.generation ?? 0);
  time(w, 8, m.created);
  pairs(w, 11, m.labels);
  pairs(w, 12, m.annotations);
  if (m.owner) {
    w.begin(13)
      .string(1, m.owner.kind)
      .string(3, m.owner.name)
      .string(4, m.owner.uid)
      .string(5, m.owner.apiVersion)
      .bool(6, true)
      .bool(7, true)
      .end();
  }
  if (m.finalizers) w.strings(14, m.finalizers);
  for (const mf of m.managed ?? []) {
    w.begin(17).string(1, mf.manager).string(2, mf.operation).string(3, mf.apiVersion);
    time(w, 4, mf.time);
    w.string(6, "FieldsV1").begin(7);
    if (typeof mf.fields === "string") w.string(1, mf.fields);
    else w.stringParts(1, mf.fields);
    w.end()
      .string(8, mf.subresource ?? "")
      .end();
  }
  w.end();
}

/** A template's metadata: labels only, and the zero creationTimestamp Go always writes. */
export function templateMeta(w: ProtoWriter, labels: Pairs, annotations?: Pairs): void {
  w.begin(1).string(1, "").string(2, "").string(3, "").string(4, "").string(5, "").string(6, "").int(7, 0);
  w.begin(8).end();
  pairs(w, 11, labels);
  pairs(w, 12, annotations);
  w.end();
}

export function labelSelector(w: ProtoWriter, field: number, labels: Pairs): void {
  w.begin(field);
  pairs(w, 1, labels);
  w.end();
}

/** IntOrString: type 0 = int, 1 = string. */
export function intOrString(w: ProtoWriter, field: number, value: number | string): void {
  w.begin(field);
  if (typeof value === "number") w.int(1, 0).int(2, value).string(3, "");
  else w.int(1, 1).int(2, 0).string(3, value);
  w.end();
}

/** RFC 3339 seconds, as Kubernetes writes metav1.Time in JSON. */
export function iso(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}Z`;
}

export function ip(rng: Rng, prefix = "10.244"): string {
  return `${prefix}.${rng.int(8)}.${rng.range(2, 254)}`;
}

/** JSON-escapes a string (pool text holds quotes and newlines). */
export function jsonString(text: string): string {
  return JSON.stringify(text);
}
