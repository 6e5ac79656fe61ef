#!/usr/bin/env node
// Pushes (and pulls back) a large snapshot through the OCI store against a real docker-registry on
// loopback, sampling this process's RSS, to show that memory stays flat while the body streams.
// Usage: node scripts/bench-push.mjs [--mib 1024] [--chunk-size MIB]   (run `pnpm build` first)
import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { parseWithPlugin } from "@vsnap/core";
import { startRegistry } from "@vsnap/test-servers/registry";
import { ociStorePlugin } from "../dist/index.js";

const { values } = parseArgs({
  options: { mib: { type: "string", default: "1024" }, "chunk-size": { type: "string" } },
});
const MiB = 1024 * 1024;
const total = Number(values.mib) * MiB;

/**
 * `total` bytes of incompressible data from one random MiB, each block made unique by a counter.
 * The block is reused (the store copies what it takes before asking for more), so the RSS measured
 * is the store's own footprint, not the garbage of a test source.
 */
async function* body(hash) {
  const block = randomBytes(MiB);
  for (let offset = 0; offset < total; offset += MiB) {
    const chunk = block.subarray(0, Math.min(MiB, total - offset));
    chunk.writeDoubleLE(offset, 0);
    hash.update(chunk);
    yield chunk;
  }
}

let peak = 0;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage().rss);
};
const sampler = setInterval(sample, 50);

const registry = await startRegistry();
try {
  const query = values["chunk-size"] ? `?chunk-size=${values["chunk-size"]}` : "";
  const location = parseWithPlugin(`oci://${registry.host}/bench/snapshots:big${query}`, ociStorePlugin);
  const store = await ociStorePlugin.open(location, { env: process.env });
  globalThis.gc?.();
  sample();
  const baseline = process.memoryUsage().rss;
  peak = baseline;

  const sent = createHash("sha256");
  let started = performance.now();
  const info = await store.put("big", body(sent));
  const putSeconds = (performance.now() - started) / 1000;
  const putPeak = peak;

  peak = process.memoryUsage().rss;
  started = performance.now();
  const reader = await store.get("big");
  const received = createHash("sha256");
  let bytes = 0;
  for await (const chunk of reader.body) {
    received.update(chunk);
    bytes += chunk.length;
  }
  const getSeconds = (performance.now() - started) / 1000;
  await store.close();

  const mb = total / 1e6;
  const result = {
    bytes: total,
    chunkSize: values["chunk-size"] ? `${values["chunk-size"]} MiB` : "default (8 MiB)",
    putMBps: Number((mb / putSeconds).toFixed(1)),
    getMBps: Number((mb / getSeconds).toFixed(1)),
    rssBeforeMiB: Number((baseline / MiB).toFixed(1)),
    rssPeakDuringPutMiB: Number((putPeak / MiB).toFixed(1)),
    rssPeakDuringGetMiB: Number((peak / MiB).toFixed(1)),
    digestMatches:
      info.etag !== undefined && sent.digest("hex") === received.digest("hex") && bytes === total,
    loadAverage: (await import("node:os")).loadavg().map((l) => Number(l.toFixed(1))),
  };
  console.log(JSON.stringify(result, null, 2));
  if (!result.digestMatches) process.exitCode = 1;
} finally {
  clearInterval(sampler);
  await registry.close();
}
