import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { demoClusterStats, demoResourceOf, generateDemoCluster, type KeyValue } from "../src/index.js";

// An independent protobuf wire reader: checks that values are well-formed, not just that they exist.
interface Field {
  readonly field: number;
  readonly wire: number;
  readonly value: number | Uint8Array;
}

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error("truncated varint");
    const byte = buf[pos++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
    scale *= 128;
  }
}

function parseMessage(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, afterTag] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw new Error("field number 0");
    if (wire === 0) {
      const [value, next] = readVarint(buf, afterTag);
      fields.push({ field, wire, value });
      pos = next;
    } else if (wire === 2) {
      const [length, start] = readVarint(buf, afterTag);
      if (start + length > buf.length) throw new Error(`field ${field} overruns its message`);
      fields.push({ field, wire, value: buf.subarray(start, start + length) });
      pos = start + length;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
  return fields;
}

function bytesOf(fields: Field[], n: number): Uint8Array {
  const f = fields.find((x) => x.field === n && x.wire === 2);
  if (!f) throw new Error(`field ${n} missing`);
  return f.value as Uint8Array;
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");

/** Decodes the apiserver's storage envelope and the object's ObjectMeta. */
function decodeStored(value: Uint8Array) {
  expect(Buffer.from(value.subarray(0, 4)).toString("latin1")).toBe("k8s\0");
  const unknown = parseMessage(value.subarray(4));
  const typeMeta = parseMessage(bytesOf(unknown, 1));
  const raw = bytesOf(unknown, 2);
  const object = parseMessage(raw);
  const metadata = parseMessage(bytesOf(object, 1));
  // walk every nested message the object holds, to catch broken length prefixes deep inside
  return {
    apiVersion: text(bytesOf(typeMeta, 1)),
    kind: text(bytesOf(typeMeta, 2)),
    name: text(bytesOf(metadata, 1)),
    namespace: text(bytesOf(metadata, 3)),
    uid: text(bytesOf(metadata, 5)),
    object,
  };
}

function collect(entries: Iterable<KeyValue>): KeyValue[] {
  return Array.from(entries);
}

function digest(entries: Iterable<KeyValue>): string {
  const hash = createHash("sha256");
  for (const { key, value } of entries) hash.update(key).update("\0").update(value).update("\0");
  return hash.digest("hex");
}

const cluster = collect(generateDemoCluster());

describe("generateDemoCluster", () => {
  it("yields exactly 6000 keys by default, in strictly ascending byte order", () => {
    expect(cluster.length).toBe(6000);
    for (let i = 1; i < cluster.length; i++) {
      expect(
        Buffer.compare(Buffer.from(cluster[i - 1]!.key), Buffer.from(cluster[i]!.key)),
        cluster[i]!.key,
      ).toBe(-1);
    }
    for (const { key } of cluster) expect(key.startsWith("/registry/")).toBe(true);
  });

  it.each([0, 1, 17, 120, 333, 1000, 2500, 25_000])(
    "hits a requested count of %i keys exactly, sorted",
    (keys) => {
      const entries = collect(generateDemoCluster({ keys, seed: 7, valueScale: 0.05 }));
      expect(entries.length).toBe(keys);
      for (let i = 1; i < entries.length; i++) expect(entries[i - 1]!.key < entries[i]!.key).toBe(true);
    },
  );

  it("is deterministic for a seed and differs across seeds", () => {
    expect(digest(generateDemoCluster({ keys: 3000, seed: 42 }))).toBe(
      digest(generateDemoCluster({ keys: 3000, seed: 42 })),
    );
    expect(digest(generateDemoCluster({ keys: 3000, seed: 42 }))).not.toBe(
      digest(generateDemoCluster({ keys: 3000, seed: 43 })),
    );
    expect(digest(cluster)).toBe(digest(generateDemoCluster({ keys: 6000, seed: 1 })));
  });

  it("yields the same entries when iterated asynchronously", async () => {
    const asyncEntries: KeyValue[] = [];
    for await (const entry of generateDemoCluster({ keys: 4000, seed: 3 })) asyncEntries.push(entry);
    expect(digest(asyncEntries)).toBe(digest(generateDemoCluster({ keys: 4000, seed: 3 })));
  });

  it("has the resource mix of a real cluster", () => {
    const resources = new Set(cluster.map((e) => demoResourceOf(e.key)));
    for (const resource of [
      "namespaces",
      "configmaps",
      "secrets",
      "pods",
      "services/specs",
      "services/endpoints",
      "endpointslices",
      "deployments",
      "replicasets",
      "statefulsets",
      "serviceaccounts",
      "events",
      "leases",
      "ranges",
      "minions",
      "clusterroles",
      "clusterrolebindings",
      "apiextensions.k8s.io/customresourcedefinitions",
      "cert-manager.io/certificates",
      "demo.vsnap.dev/widgets",
      "apiregistration.k8s.io/apiservices",
    ]) {
      expect(resources, resource).toContain(resource);
    }
    const keys = new Set(cluster.map((e) => e.key));
    for (const key of [
      "/registry/ranges/serviceips",
      "/registry/ranges/servicenodeports",
      "/registry/namespaces/default",
      "/registry/namespaces/kube-system",
      "/registry/services/specs/default/kubernetes",
    ]) {
      expect(keys, key).toContain(key);
    }
    const stats = demoClusterStats(cluster);
    // events and pods dominate a live cluster's key count
    expect(stats.byResource.events!.keys).toBeGreaterThan(stats.byResource.deployments!.keys);
    expect(stats.byResource.pods!.keys).toBeGreaterThan(stats.byResource.deployments!.keys);
  });

  it("stores built-in objects as the apiserver does: k8s\\0 + runtime.Unknown with well-formed protobuf", () => {
    let checked = 0;
    const uids = new Set<string>();
    for (const { key, value } of cluster) {
      const resource = demoResourceOf(key);
      if (resource.includes(".")) continue; // JSON-stored groups are checked below
      const decoded = decodeStored(value);
      const segments = key.split("/");
      const name = segments.at(-1)!;
      if (resource !== "ranges") {
        expect(decoded.name, key).toBe(name);
        expect(uids.has(decoded.uid), `duplicate uid ${decoded.uid}`).toBe(false);
        uids.add(decoded.uid);
      }
      const clusterScoped = [
        "namespaces",
        "minions",
        "clusterroles",
        "clusterrolebindings",
        "priorityclasses",
        "prioritylevelconfigurations",
        "flowschemas",
        "storageclasses",
        "ranges",
      ];
      if (!clusterScoped.includes(resource)) expect(decoded.namespace, key).toBe(segments.at(-2));
      checked++;
    }
    expect(checked).toBeGreaterThan(5000);
    const pod = decodeStored(cluster.find((e) => e.key.startsWith("/registry/pods/"))!.value);
    expect([pod.apiVersion, pod.kind]).toEqual(["v1", "Pod"]);
    expect(pod.object.map((f) => f.field)).toEqual([1, 2, 3]); // metadata, spec, status
    // deeper: every pod's and every workload template's containers parse, with name and image set
    for (const { key, value } of cluster) {
      const resource = demoResourceOf(key);
      if (!["pods", "deployments", "replicasets", "statefulsets"].includes(resource)) continue;
      const { object } = decodeStored(value);
      let podSpec = parseMessage(bytesOf(object, 2));
      if (resource !== "pods") podSpec = parseMessage(bytesOf(parseMessage(bytesOf(podSpec, 3)), 2));
      const containers = podSpec.filter((f) => f.field === 2).map((f) => parseMessage(f.value as Uint8Array));
      expect(containers.length, key).toBe(1);
      expect(text(bytesOf(containers[0]!, 1)).length, key).toBeGreaterThan(0);
      expect(text(bytesOf(containers[0]!, 2)), key).toMatch(/^[a-z0-9.-]+(\/[\w.-]+)+(:[\w.-]+)?$/);
    }
    const deployment = decodeStored(cluster.find((e) => e.key.startsWith("/registry/deployments/"))!.value);
    expect([deployment.apiVersion, deployment.kind]).toEqual(["apps/v1", "Deployment"]);
    const slice = decodeStored(cluster.find((e) => e.key.startsWith("/registry/endpointslices/"))!.value);
    expect([slice.apiVersion, slice.kind]).toEqual(["discovery.k8s.io/v1", "EndpointSlice"]);
  });

  it("stores custom resources, CRDs and APIServices as JSON (CRs with sorted keys)", () => {
    const json = cluster.filter((e) => demoResourceOf(e.key).includes("."));
    expect(json.length).toBeGreaterThan(100);
    for (const { key, value } of json) {
      const body = text(value);
      expect(body.endsWith("\n")).toBe(true);
      const object = JSON.parse(body) as {
        apiVersion: string;
        kind: string;
        metadata: { name: string; namespace?: string };
      };
      expect(object.metadata.name, key).toBe(key.split("/").at(-1));
      if (key.startsWith("/registry/apiextensions.k8s.io/"))
        expect(object.apiVersion).toBe("apiextensions.k8s.io/v1beta1");
      else if (!key.startsWith("/registry/apiregistration.k8s.io/")) {
        expect(object.metadata.namespace).toBe(key.split("/").at(-2));
        expect(Object.keys(object)).toEqual([...Object.keys(object)].sort());
        expect(Object.keys(object.metadata)).toEqual([...Object.keys(object.metadata)].sort());
      }
    }
  });

  it("has realistic value sizes: mostly 0.5-8 KiB, a few large objects, random-looking secrets", () => {
    const stats = demoClusterStats(cluster);
    expect(stats.p50).toBeGreaterThanOrEqual(400);
    expect(stats.p50).toBeLessThanOrEqual(4096);
    expect(stats.p90).toBeLessThanOrEqual(8192);
    expect(stats.largest.bytes).toBeGreaterThanOrEqual(128 * 1024);
    expect(stats.largest.bytes).toBeLessThanOrEqual(1.1 * 1024 * 1024);
    const pods = cluster.filter((e) => e.key.startsWith("/registry/pods/")).map((e) => e.value.length);
    expect(Math.min(...pods)).toBeGreaterThanOrEqual(1024);
    expect(Math.max(...pods)).toBeLessThanOrEqual(8192);
    // opaque secrets hold random bytes: they barely compress, unlike config text
    const secrets = Buffer.concat(cluster.filter((e) => e.key.includes("-credentials")).map((e) => e.value));
    const configs = Buffer.concat(cluster.filter((e) => e.key.includes("-config")).map((e) => e.value));
    expect(gzipSync(secrets).length / secrets.length).toBeGreaterThan(
      gzipSync(configs).length / configs.length,
    );
    // the whole cluster compresses like real etcd data does (neither incompressible nor trivially so)
    const all = Buffer.concat(cluster.map((e) => e.value));
    const ratio = all.length / gzipSync(all, { level: 3 }).length;
    expect(ratio).toBeGreaterThan(1.5);
    expect(ratio).toBeLessThan(12);
  });

  it("scales filler sizes with valueScale without changing the keys", () => {
    const bytes = (list: KeyValue[]) => list.reduce((sum, e) => sum + e.value.length, 0);
    const small = collect(generateDemoCluster({ keys: 3000, seed: 5, valueScale: 0.1 }));
    const normal = collect(generateDemoCluster({ keys: 3000, seed: 5 }));
    const large = collect(generateDemoCluster({ keys: 3000, seed: 5, valueScale: 4 }));
    expect(small.map((e) => e.key)).toEqual(normal.map((e) => e.key));
    expect(large.map((e) => e.key)).toEqual(normal.map((e) => e.key));
    expect(bytes(small)).toBeLessThan(bytes(normal) * 0.8);
    expect(bytes(large)).toBeGreaterThan(bytes(normal) * 1.8);
  });

  it("rejects invalid options", () => {
    expect(() => generateDemoCluster({ keys: -1 })).toThrow(RangeError);
    expect(() => generateDemoCluster({ keys: 1.5 })).toThrow(RangeError);
    expect(() => generateDemoCluster({ valueScale: 0 })).toThrow(RangeError);
  });
});

describe("demoResourceOf", () => {
  it("names resources like etcd's key layout", () => {
    expect(demoResourceOf("/registry/pods/ns/x")).toBe("pods");
    expect(demoResourceOf("/registry/services/specs/ns/x")).toBe("services/specs");
    expect(demoResourceOf("/registry/cert-manager.io/certificates/ns/x")).toBe(
      "cert-manager.io/certificates",
    );
  });
});
