import { createHash } from "node:crypto";
import type { KeyValue } from "@vsnap/core";

/**
 * What `--new-vcluster` leaves out, as vCluster does: the name mappings of the old vCluster and the
 * kube-root-ca.crt ConfigMaps (a vCluster under another name or namespace has other certificates).
 */
export function isCloneDropped(key: string): boolean {
  return (
    key.startsWith("/vcluster/mappings/") || /^\/registry\/configmaps\/[^/]+\/kube-root-ca\.crt$/.test(key)
  );
}

/**
 * The resource type of a backing-store key, from kube-apiserver's key layout:
 * `/registry/<resource>/[<namespace>/]<name>` for built-in types and
 * `/registry/<group>/<resource>/...` for groups stored under their name (CRDs, apiregistration,
 * ...), shown as `<resource>.<group>`. Other keys are grouped by their first two segments.
 */
export function resourceTypeOf(key: string): string {
  const parts = key.split("/");
  if (parts[1] !== "registry" || !parts[2]) return parts.slice(0, 3).join("/") || key;
  const first = parts[2];
  if (first.includes(".") && parts[3]) return `${parts[3]}.${first}`;
  return first;
}

/** The object a key names, for examples: `namespace/name` or `name`. */
export function objectOf(key: string): string {
  const parts = key.split("/");
  if (parts[1] !== "registry") return key;
  const rest = parts.slice(parts[2]?.includes(".") ? 4 : 3);
  return rest.join("/") || key;
}

export interface TypeDiff {
  readonly type: string;
  added: number;
  removed: number;
  changed: number;
  unchanged: number;
  /** A few object names per change, for the dry-run listing. */
  readonly examples: { added: string[]; removed: string[]; changed: string[] };
}

export interface KeyDiff {
  readonly types: TypeDiff[];
  readonly totals: { added: number; removed: number; changed: number; unchanged: number };
  /** Keys the restore would skip (`--new-vcluster` drops). */
  readonly dropped: number;
  readonly liveKeys: number;
  readonly archiveKeys: number;
}

const EXAMPLES = 5;

/**
 * Compares the live store with an archive, both as key/value streams in ascending key order
 * (what sources and archives produce): a merge in one pass, memory bounded by the number of
 * resource types. Values are compared by content.
 */
export async function diffKeyValues(
  live: AsyncIterable<KeyValue>,
  archive: AsyncIterable<KeyValue>,
  options: { readonly drop?: (key: string) => boolean } = {},
): Promise<KeyDiff> {
  const byType = new Map<string, TypeDiff>();
  const totals = { added: 0, removed: 0, changed: 0, unchanged: 0 };
  let dropped = 0;
  let liveKeys = 0;
  let archiveKeys = 0;
  const entry = (type: string) => {
    let d = byType.get(type);
    if (!d) {
      d = {
        type,
        added: 0,
        removed: 0,
        changed: 0,
        unchanged: 0,
        examples: { added: [], removed: [], changed: [] },
      };
      byType.set(type, d);
    }
    return d;
  };
  const count = (key: string, what: "added" | "removed" | "changed" | "unchanged") => {
    const d = entry(resourceTypeOf(key));
    d[what]++;
    totals[what]++;
    if (what !== "unchanged" && d.examples[what].length < EXAMPLES) d.examples[what].push(objectOf(key));
  };
  const a = live[Symbol.asyncIterator]();
  const b = filtered(archive, options.drop, () => dropped++)[Symbol.asyncIterator]();
  let x = await a.next();
  let y = await b.next();
  while (!x.done || !y.done) {
    const cmp = x.done ? 1 : y.done ? -1 : compareKeys(x.value.key, y.value.key);
    if (cmp < 0 && !x.done) {
      liveKeys++;
      count(x.value.key, "removed");
      x = await a.next();
    } else if (cmp > 0 && !y.done) {
      archiveKeys++;
      count(y.value.key, "added");
      y = await b.next();
    } else if (!x.done && !y.done) {
      liveKeys++;
      archiveKeys++;
      count(x.value.key, sameValue(x.value.value, y.value.value) ? "unchanged" : "changed");
      x = await a.next();
      y = await b.next();
    }
  }
  const types = [...byType.values()].sort((p, q) => p.type.localeCompare(q.type));
  return { types, totals, dropped, liveKeys, archiveKeys };
}

async function* filtered(
  source: AsyncIterable<KeyValue>,
  drop: ((key: string) => boolean) | undefined,
  onDrop: () => void,
): AsyncIterable<KeyValue> {
  for await (const kv of source) {
    if (drop?.(kv.key)) {
      onDrop();
      continue;
    }
    yield kv;
  }
}

/** Byte order of the UTF-8 keys (etcd's and the archive's order), not UTF-16 code units. */
export function compareKeys(p: string, q: string): number {
  return Buffer.compare(Buffer.from(p), Buffer.from(q));
}

function sameValue(p: Uint8Array, q: Uint8Array): boolean {
  if (p.length !== q.length) return false;
  if (p.length < 4096)
    return Buffer.from(p.buffer, p.byteOffset, p.length).equals(
      Buffer.from(q.buffer, q.byteOffset, q.length),
    );
  const h = (v: Uint8Array) => createHash("sha256").update(v).digest("hex");
  return h(p) === h(q);
}

/**
 * The diff cut to fit `maxBytes` of JSON (a Pod's termination message holds 4 KiB): counts are
 * always kept, examples are dropped from the largest types first.
 */
export function compactDiff(diff: KeyDiff, maxBytes = 3500): KeyDiff {
  const out: KeyDiff = structuredClone(diff);
  const size = () => Buffer.byteLength(JSON.stringify(out));
  const withExamples = () =>
    out.types.filter(
      (t) => t.examples.added.length + t.examples.removed.length + t.examples.changed.length > 0,
    );
  while (size() > maxBytes) {
    const victim = withExamples().sort(
      (p, q) => q.added + q.removed + q.changed - (p.added + p.removed + p.changed),
    )[0];
    if (!victim) break;
    victim.examples.added.length = 0;
    victim.examples.removed.length = 0;
    victim.examples.changed.length = 0;
  }
  // still too big (many types): fold the types with the fewest changes into one "other types" row
  const types = (out as { types: TypeDiff[] }).types;
  const changes = (t: TypeDiff) => t.added + t.removed + t.changed;
  if (size() > maxBytes) {
    types.sort((p, q) => changes(q) - changes(p) || q.unchanged - p.unchanged);
    const other: TypeDiff = {
      type: "",
      added: 0,
      removed: 0,
      changed: 0,
      unchanged: 0,
      examples: { added: [], removed: [], changed: [] },
    };
    let folded = 0;
    types.push(other);
    while (size() > maxBytes && types.length > 2) {
      const t = types.splice(types.length - 2, 1)[0]!;
      other.added += t.added;
      other.removed += t.removed;
      other.changed += t.changed;
      other.unchanged += t.unchanged;
      folded++;
      (other as { type: string }).type = `(${folded} other types)`;
    }
    types.sort((p, q) => p.type.localeCompare(q.type));
  }
  return out;
}
