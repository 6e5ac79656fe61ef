#!/usr/bin/env node
// Upload and download one large object through the s3 store against a fresh radosgw, and report
// MB/s and this process's peak RSS per phase. A script, not a test: timings depend on the machine.
//
//   pnpm --filter @vsnap/store-s3 build && pnpm --filter @vsnap/test-servers build
//   node packages/store-s3/scripts/bench-1gib.mjs [MiB=1024]
//
// memstore keeps every byte in RAM: the server is started with room for 3x the object.
import { createHash, randomBytes } from "node:crypto";
import os from "node:os";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { parseWithPlugin } from "@vsnap/core";
import { startRgw } from "@vsnap/test-servers/rgw";
import { PartPlan, S3_PART_LIMITS, s3StorePlugin } from "../dist/index.js";

const MiB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 1024);
const bytes = sizeMiB * MiB;
const b64 = (text) => Buffer.from(text).toString("base64");

/** Samples RSS every 50 ms while `run` works; returns its result, the seconds and the peak. */
async function measure(run) {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 50);
  const started = process.hrtime.bigint();
  try {
    const result = await run();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { result, seconds, peak: Math.max(peak, process.memoryUsage.rss()) };
  } finally {
    clearInterval(timer);
  }
}

const rgw = await startRgw({ memstoreBytes: Math.max(3 * bytes, 512 * MiB) });
try {
  const url = `s3://bench/bench/snap.tar.gz?url=${b64(rgw.endpoint)}&force-path-style=true&region=${rgw.region}&access-key-id=${b64(rgw.accessKeyId)}&secret-access-key=${b64(rgw.secretAccessKey)}`;
  const location = parseWithPlugin(url, s3StorePlugin);
  const store = await s3StorePlugin.open(location, { env: {} });
  await store.client.send(new CreateBucketCommand({ Bucket: "bench" }));
  // one random MiB, repeated: generating 1 GiB of fresh randomness would measure the CPU, not S3
  const block = randomBytes(MiB);
  async function* body() {
    for (let i = 0; i < sizeMiB; i++) yield block;
  }
  const expected = createHash("sha256");
  for (let i = 0; i < sizeMiB; i++) expected.update(block);
  const expectedHex = expected.digest("hex");
  global.gc?.();
  const baseline = process.memoryUsage.rss();

  const up = await measure(() => store.put("snap.tar.gz", body()));
  const down = await measure(async () => {
    const hash = createHash("sha256");
    let got = 0;
    for await (const chunk of (await store.get("snap.tar.gz")).body) {
      hash.update(chunk);
      got += chunk.length;
    }
    return { hex: hash.digest("hex"), got };
  });
  await store.close();

  const plan = new PartPlan(S3_PART_LIMITS);
  const mbps = (s) => (bytes / 1e6 / s).toFixed(1);
  const mib = (n) => `${(n / MiB).toFixed(0)} MiB`;
  console.log(
    JSON.stringify(
      {
        object: mib(bytes),
        node: process.version,
        cpus: os.cpus().length,
        loadavg: os.loadavg().map((l) => l.toFixed(1)),
        partSize: mib(plan.partSize(1)),
        partsInFlight: plan.concurrency(plan.partSize(1)),
        memoryBound: mib(plan.memoryBound(plan.partSize(1))),
        rssBaseline: mib(baseline),
        upload: { seconds: up.seconds.toFixed(1), MBps: mbps(up.seconds), peakRss: mib(up.peak) },
        download: {
          seconds: down.seconds.toFixed(1),
          MBps: mbps(down.seconds),
          peakRss: mib(down.peak),
          sha256Matches: down.result.hex === expectedHex && down.result.got === bytes,
        },
      },
      null,
      2,
    ),
  );
} finally {
  await rgw.close();
}
