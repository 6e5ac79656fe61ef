import type { S3Client } from "@aws-sdk/client-s3";
import { VsnapError } from "@vsnap/core";
import { type S3FaultProxy, startS3FaultProxy } from "@vsnap/test-servers/s3-fault-proxy";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  adminClient,
  listUploads,
  MiB,
  newBucket,
  openStore,
  randomBody,
  rgw,
  SMALL_PARTS,
  s3Url,
  sha256Of,
} from "./helpers.js";

let admin: S3Client;
let bucket: string;
let proxy: S3FaultProxy;

beforeAll(async () => {
  admin = adminClient();
  bucket = await newBucket(admin, "faults");
  proxy = await startS3FaultProxy(rgw().endpoint);
});
afterAll(async () => {
  admin.destroy();
  await proxy.close();
});
beforeEach(() => {
  proxy.setRules({});
  proxy.reset();
});

const open = (key: string, params: Record<string, string> = {}, maxAttempts?: number) =>
  openStore(
    s3Url(bucket, key, { endpoint: proxy.endpoint, params }),
    {},
    {
      limits: SMALL_PARTS,
      ...(maxAttempts ? { maxAttempts } : {}),
    },
  );

async function expectNothingLeft(key: string) {
  const { store } = await openStore(s3Url(bucket, key));
  expect(await store.stat("a.tar.gz")).toBeUndefined();
  await store.close();
  expect(await listUploads(admin, bucket)).toEqual([]);
}

describe("transient part failures", () => {
  it("retries parts that fail with 503 SlowDown or 500 until they get through", async () => {
    const { store } = await open("retry/");
    for (const status of [503, 500]) {
      proxy.reset();
      proxy.setRules({ failParts: { rate: 0.5, status, maxPerPart: 2 }, seed: status });
      const data = randomBody(8 * MiB + 1);
      await store.put("a.tar.gz", data.body);
      expect(proxy.count("UploadPart", "failed")).toBeGreaterThan(0);
      expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(data.digest());
    }
    await store.close();
    expect(await listUploads(admin, bucket)).toEqual([]);
  });

  it("retries a part whose connection is cut in the middle of its body", async () => {
    const { store } = await open("drop-retry/");
    proxy.setRules({ dropParts: { rate: 0.5, afterBytes: 256 * 1024, maxPerPart: 1 } });
    const data = randomBody(6 * MiB);
    await store.put("a.tar.gz", data.body);
    expect(proxy.count("UploadPart", "dropped")).toBeGreaterThan(0);
    expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(data.digest());
    await store.close();
  });
});

describe("failures that persist", () => {
  it("a part that keeps failing fails the put UNAVAILABLE, leaving no object and no upload", async () => {
    const { store } = await open("fail/", {}, 3);
    proxy.setRules({ failParts: { rate: 1, status: 500, code: "InternalError" } });
    const error = await store.put("a.tar.gz", randomBody(5 * MiB).body).catch((e: unknown) => e);
    expect(VsnapError.is(error, "UNAVAILABLE")).toBe(true);
    expect(proxy.count("AbortMultipartUpload")).toBe(1);
    await store.close();
    await expectNothingLeft("fail/");
  });

  it("a connection cut on every attempt fails the put UNAVAILABLE, leaving nothing", async () => {
    const { store } = await open("drop/", {}, 2);
    proxy.setRules({ dropParts: { rate: 1, afterBytes: 128 * 1024 } });
    const error = await store.put("a.tar.gz", randomBody(4 * MiB).body).catch((e: unknown) => e);
    expect(VsnapError.is(error, "UNAVAILABLE")).toBe(true);
    await store.close();
    await expectNothingLeft("drop/");
  });

  it("a download cut short is an error, never a short snapshot", async () => {
    const { store } = await open("trunc/");
    await store.put("a.tar.gz", randomBody(2 * MiB).body);
    proxy.setRules({ truncateGets: { afterBytes: 300 * 1024 } });
    const reader = await store.get("a.tar.gz");
    const error = await sha256Of(reader.body).catch((e: unknown) => e);
    expect(VsnapError.is(error, "UNAVAILABLE")).toBe(true);
    await store.close();
  });
});

describe("checksum headers (aws-sdk-js-v3#6810)", () => {
  it("sends no x-amz-checksum-* by default, so services that refuse them work", async () => {
    const { store } = await open("nochecksum/");
    proxy.setRules({ rejectChecksumHeaders: true });
    const big = randomBody(3 * MiB);
    await store.put("a.tar.gz", big.body);
    await store.put("b.tar.gz", randomBody(100).body);
    expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(big.digest());
    expect(proxy.requests.filter((r) => r.checksumHeaders.length > 0)).toEqual([]);
    expect(proxy.count("UploadPart")).toBeGreaterThan(1);
    await store.close();
  });

  it("checksum-algorithm sends them; a service that refuses them fails the put UNSUPPORTED, leaving nothing", async () => {
    const { store } = await open("checksum/", { "checksum-algorithm": "CRC32" });
    proxy.setRules({ rejectChecksumHeaders: true });
    const error = await store.put("a.tar.gz", randomBody(3 * MiB).body).catch((e: unknown) => e);
    expect(VsnapError.is(error, "UNSUPPORTED")).toBe(true);
    expect((error as VsnapError).hint).toMatch(/checksum-algorithm/);
    expect(proxy.requests.some((r) => r.checksumHeaders.length > 0)).toBe(true);
    await store.close();
    await expectNothingLeft("checksum/");
  });

  it("checksum-algorithm works end to end against radosgw, single and multipart", async () => {
    for (const algorithm of ["CRC32", "SHA256"]) {
      proxy.reset();
      const { store } = await open(`checksum-ok-${algorithm}/`, { "checksum-algorithm": algorithm });
      const big = randomBody(3 * MiB);
      await store.put("a.tar.gz", big.body);
      await store.put("b.tar.gz", randomBody(100).body);
      expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(big.digest());
      const sent = proxy.requests.filter((r) => r.operation === "UploadPart" || r.operation === "PutObject");
      expect(sent.every((r) => r.checksumHeaders.includes(`x-amz-checksum-${algorithm.toLowerCase()}`))).toBe(
        true,
      );
      await store.close();
    }
  });
});
