import type { KeyValue } from "../backing.js";
import type { BuildContext } from "./encode.js";
import { bucketsOf, byteOrder, type ClusterPlan, planCluster } from "./plan.js";
import { poolsFor } from "./pools.js";
import { ProtoWriter } from "./protobuf.js";

export interface DemoClusterOptions {
  /** Exact number of keys to produce (default 6000). */
  readonly keys?: number;
  /** Same seed, same cluster, byte for byte (default 1). */
  readonly seed?: number;
  /** Multiplies the size of filler data (config files, secrets, schemas); default 1. */
  readonly valueScale?: number;
}

/**
 * A generated cluster: iterate it (sync or async) as often as needed. Values are produced lazily;
 * only the plan (namespaces and apps, about 16 bytes per key) is kept.
 */
export interface DemoCluster extends Iterable<KeyValue>, AsyncIterable<KeyValue> {
  readonly keys: number;
  readonly seed: number;
  /** Namespaces of the cluster (system ones included). */
  readonly namespaces: readonly string[];
}

export const DEFAULT_DEMO_KEYS = 6000;

function* entriesOf(plan: ClusterPlan, scale: number): Generator<KeyValue> {
  const ctx: BuildContext = {
    w: new ProtoWriter(),
    pools: poolsFor(plan.seed),
    scale,
    scratch: new ProtoWriter(16 * 1024),
    cache: new Map(),
  };
  for (const bucket of bucketsOf(plan)) {
    const items = bucket.items().sort((a, b) => byteOrder(a.name, b.name));
    const count = Math.min(items.length, plan.limits.get(bucket.prefix) ?? items.length);
    for (let i = 0; i < count; i++) {
      const item = items[i]!;
      yield { key: bucket.prefix + item.name, value: item.build(ctx) };
    }
  }
}

/**
 * A realistic virtual cluster's etcd/kine contents, in ascending key order: built-in objects in the
 * apiserver's protobuf storage encoding (`k8s\0` + runtime.Unknown), custom resources, CRDs and
 * APIServices as JSON, exactly `keys` keys, deterministic from `seed`, generated lazily.
 */
export function generateDemoCluster(options: DemoClusterOptions = {}): DemoCluster {
  const keys = options.keys ?? DEFAULT_DEMO_KEYS;
  const seed = options.seed ?? 1;
  const scale = options.valueScale ?? 1;
  if (!Number.isSafeInteger(keys) || keys < 0)
    throw new RangeError(`demo cluster keys must be a non-negative integer, got ${keys}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`demo cluster seed must be an integer, got ${seed}`);
  if (!(scale > 0) || !Number.isFinite(scale))
    throw new RangeError(`demo cluster valueScale must be a positive number, got ${scale}`);
  const plan = planCluster(seed, keys);
  return {
    keys,
    seed,
    namespaces: plan.namespaces.map((ns) => ns.name),
    [Symbol.iterator]: () => entriesOf(plan, scale),
    async *[Symbol.asyncIterator]() {
      let n = 0;
      for (const entry of entriesOf(plan, scale)) {
        yield entry;
        // let timers and I/O run during long generations
        if (++n % 2048 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    },
  };
}

/** The resource of a key: `pods`, `services/specs`, `cert-manager.io/certificates`, ... */
export function demoResourceOf(key: string): string {
  const parts = key.split("/");
  // ["", "registry", resource, ...]; grouped resources and services have two segments
  const first = parts[2] ?? "";
  if (first.includes(".") || first === "services") return `${first}/${parts[3] ?? ""}`;
  return first;
}

export interface DemoClusterStats {
  readonly keys: number;
  readonly bytes: number;
  readonly largest: { readonly key: string; readonly bytes: number };
  readonly byResource: Readonly<Record<string, { readonly keys: number; readonly bytes: number }>>;
  /** Value-size quantiles in bytes. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

/** Summarises a cluster (or any key/values): counts and sizes per resource. Streams; keeps only sizes. */
export function demoClusterStats(entries: Iterable<KeyValue>): DemoClusterStats {
  const byResource: Record<string, { keys: number; bytes: number }> = {};
  const sizes: number[] = [];
  let bytes = 0;
  let largest = { key: "", bytes: -1 };
  for (const { key, value } of entries) {
    const resource = demoResourceOf(key);
    let slot = byResource[resource];
    if (slot === undefined) {
      slot = { keys: 0, bytes: 0 };
      byResource[resource] = slot;
    }
    slot.keys++;
    slot.bytes += value.length;
    bytes += value.length;
    sizes.push(value.length);
    if (value.length > largest.bytes) largest = { key, bytes: value.length };
  }
  sizes.sort((a, b) => a - b);
  const q = (p: number) => sizes[Math.min(sizes.length - 1, Math.floor(p * sizes.length))] ?? 0;
  return { keys: sizes.length, bytes, largest, byResource, p50: q(0.5), p90: q(0.9), p99: q(0.99) };
}
