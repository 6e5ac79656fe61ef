import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { VsnapError } from "@vsnap/core";
import { startS3FaultProxy } from "@vsnap/test-servers/s3-fault-proxy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PartPlan, S3_PART_LIMITS } from "../src/index.js";
import {
  adminClient,
  b64,
  collect,
  listUploads,
  MiB,
  newBucket,
  openStore,
  randomBody,
  rgw,
  SMALL_PARTS,
  s3Url,
  sha256Of,
  stallingBody,
} from "./helpers.js";

let admin: S3Client;
let bucket: string;

beforeAll(async () => {
  admin = adminClient();
  bucket = await newBucket(admin, "store");
});
afterAll(() => admin.destroy());

describe("round trips against radosgw", () => {
  it("streams a multipart upload and reads back the same bytes", async () => {
    const { store } = await openStore(s3Url(bucket, "rt/snap.tar.gz"));
    const size = 16 * MiB + 17; // S3's limits: two 8 MiB parts and a short last one
    const data = randomBody(size);
    const progress: number[] = [];
    const info = await store.put("big.tar.gz", data.body, { onProgress: (e) => progress.push(e.bytes) });
    expect(info.size).toBe(size);
    expect(info.key).toBe("big.tar.gz");
    expect(progress.at(-1)).toBe(size);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const reader = await store.get("big.tar.gz");
    expect(reader.info.size).toBe(info.size);
    const got = await sha256Of(reader.body);
    expect(got).toEqual({ hex: data.digest(), bytes: size });
    // the object really is multipart: rgw's ETag for those ends in -<parts>
    const head = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: "rt/big.tar.gz" }));
    expect(head.ETag).toMatch(/-3"?$/);
    await store.close();
  });

  it("sends a body smaller than one part as a single PutObject, including an empty one", async () => {
    const proxy = await startS3FaultProxy(rgw().endpoint);
    try {
      const { store } = await openStore(s3Url(bucket, "small/x.tar.gz", { endpoint: proxy.endpoint }));
      const data = randomBody(1234);
      await store.put("small.tar.gz", data.body);
      await store.put("empty.tar.gz", randomBody(0).body);
      expect(proxy.count("PutObject")).toBe(2);
      expect(proxy.count("CreateMultipartUpload")).toBe(0);
      expect((await sha256Of((await store.get("small.tar.gz")).body)).hex).toBe(data.digest());
      expect((await store.stat("empty.tar.gz"))?.size).toBe(0);
      expect((await sha256Of((await store.get("empty.tar.gz")).body)).bytes).toBe(0);
      await store.close();
    } finally {
      await proxy.close();
    }
  });

  it("keeps annotations as S3 metadata, exactly, whatever their names", async () => {
    const { store } = await openStore(s3Url(bucket, "meta/"));
    const annotations = { revision: "42", "vsnap.dev/kind": "etcd", Mixed: "Ünïcode value " };
    const info = await store.put("a.tar.gz", randomBody(100).body, { annotations });
    expect(info.annotations).toEqual(annotations);
    expect((await store.stat("a.tar.gz"))?.annotations).toEqual(annotations);
    expect((await store.get("a.tar.gz")).info.annotations).toEqual(annotations);
    // plain names stay plain metadata other tools can read
    const head = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: "meta/a.tar.gz" }));
    expect(head.Metadata?.revision).toBe("42");
    await store.close();
  });

  it("asks for late annotations after the body for a single PutObject", async () => {
    const { store } = await openStore(s3Url(bucket, "late/"));
    const data = randomBody(1000);
    const info = await store.put("a.tar.gz", data.body, {
      annotations: () => ({ bytes: String(data.pulled()) }),
    });
    expect(info.annotations).toEqual({ bytes: "1000" });
    await store.close();
  });

  it("sends tagging only when given, and as given", async () => {
    const tagging = b64("team=infra&env=prod stage");
    const { store } = await openStore(
      s3Url(bucket, "tags/", { params: { tagging } }),
      {},
      { limits: SMALL_PARTS },
    );
    await store.put("small.tar.gz", randomBody(10).body);
    await store.put("large.tar.gz", randomBody(2 * MiB + 1).body);
    for (const key of ["tags/small.tar.gz", "tags/large.tar.gz"]) {
      const tags = await admin.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
      expect(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({
        team: "infra",
        env: "prod stage",
      });
    }
    await store.close();
  });
});

describe("list", () => {
  it("lists only *.tar.gz directly under the key's directory, with / as the boundary, across pages", async () => {
    const put = (key: string) => admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    const names = Array.from({ length: 12 }, (_, i) => `snap-${String(i).padStart(2, "0")}.tar.gz`);
    await Promise.all([
      ...names.map((n) => put(`backups/${n}`)),
      put("backups-x.tar.gz"),
      put("backups/sub/deeper.tar.gz"),
      put("backups/notes.txt"),
      put("backupsfoo/y.tar.gz"),
    ]);
    const { store } = await openStore(s3Url(bucket, "backups/snap-00.tar.gz"), {}, { listPageSize: 5 });
    const listed = await collect(store.list());
    expect(listed.map((o) => o.key)).toEqual(names);
    expect(listed[0]?.url).toMatch(new RegExp(`^s3://${bucket}/backups/snap-00\\.tar\\.gz\\?`));
    expect(listed[0]?.size).toBe("backups/snap-00.tar.gz".length);
    expect((await collect(store.list("snap-1"))).map((o) => o.key)).toEqual([
      "snap-10.tar.gz",
      "snap-11.tar.gz",
    ]);
    // the bucket's top level holds exactly one snapshot: backups-x.tar.gz
    const { store: top } = await openStore(s3Url(bucket, "backups"));
    expect((await collect(top.list())).map((o) => o.key)).toEqual(["backups-x.tar.gz"]);
    await Promise.all([store.close(), top.close()]);
  });

  it("reports a missing bucket as NOT_FOUND naming the bucket", async () => {
    const { store } = await openStore(s3Url("no-such-bucket-vsnap", "x/"));
    const error = await collect(store.list()).catch((e: unknown) => e);
    expect(VsnapError.is(error, "NOT_FOUND")).toBe(true);
    expect((error as Error).message).toMatch(/bucket does not exist/);
    await store.close();
  });
});

describe("stat, get and delete", () => {
  it("stat resolves undefined and get rejects NOT_FOUND for a missing key", async () => {
    const { store } = await openStore(s3Url(bucket, "missing/"));
    expect(await store.stat("nope.tar.gz")).toBeUndefined();
    const error = await store.get("nope.tar.gz").catch((e: unknown) => e);
    expect(VsnapError.is(error, "NOT_FOUND")).toBe(true);
    expect((error as Error).message).toContain(`s3://${bucket}/missing/nope.tar.gz`);
    await store.close();
  });

  it("delete is idempotent", async () => {
    const { store } = await openStore(s3Url(bucket, "del/"));
    await store.put("a.tar.gz", randomBody(10).body);
    await store.delete("a.tar.gz");
    await store.delete("a.tar.gz");
    expect(await store.stat("a.tar.gz")).toBeUndefined();
    await store.close();
  });

  it("on a versioned bucket, says that delete only added a delete marker", async () => {
    const versioned = await newBucket(admin, "versioned");
    await admin.send(
      new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: "Enabled" } }),
    );
    const { store, logs } = await openStore(s3Url(versioned, "v/"));
    await store.put("a.tar.gz", randomBody(10).body);
    await store.delete("a.tar.gz");
    expect(await store.stat("a.tar.gz")).toBeUndefined();
    expect(logs.join("\n")).toMatch(/versioned.*delete marker.*earlier versions/s);
    const versions = await admin.send(new ListObjectVersionsCommand({ Bucket: versioned, Prefix: "v/" }));
    expect(versions.Versions?.length).toBe(1);
    expect(versions.DeleteMarkers?.length).toBe(1);
    await store.close();
  });

  it("rejects keys that would leave the store's directory", async () => {
    const { store } = await openStore(s3Url(bucket, "keys/"));
    for (const key of ["", "a/b.tar.gz", ".."]) {
      const error = await store.stat(key).catch((e: unknown) => e);
      expect(VsnapError.is(error, "INVALID_ARGUMENT")).toBe(true);
    }
    await store.close();
  });

  it("get streams: a consumer that stops early releases the connection", async () => {
    const { store } = await openStore(s3Url(bucket, "early/"));
    await store.put("a.tar.gz", randomBody(3 * MiB).body);
    for (let i = 0; i < 20; i++) {
      const reader = await store.get("a.tar.gz");
      for await (const _chunk of reader.body) break;
    }
    // with leaked sockets the pool (16) would be exhausted and this would hang
    expect((await store.stat("a.tar.gz"))?.size).toBe(3 * MiB);
    await store.close();
  });
});

describe("atomicity", () => {
  it("an aborted put leaves no object, keeps the previous one and aborts its multipart upload", async () => {
    const { store } = await openStore(s3Url(bucket, "abort/"), {}, { limits: SMALL_PARTS });
    const before = randomBody(100);
    await store.put("a.tar.gz", before.body);
    const controller = new AbortController();
    const put = store.put("a.tar.gz", stallingBody(3 * MiB, controller.signal), {
      signal: controller.signal,
    });
    // wait until parts are on the server
    await expect.poll(async () => (await listUploads(admin, bucket)).length, { timeout: 20_000 }).toBe(1);
    controller.abort();
    const error = await put.catch((e: unknown) => e);
    expect(VsnapError.is(error, "ABORTED")).toBe(true);
    expect(await listUploads(admin, bucket)).toEqual([]);
    expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(before.digest());
    await store.close();
  });

  it("a failing body leaves nothing and its own error passes through", async () => {
    const { store } = await openStore(s3Url(bucket, "bodyfail/"), {}, { limits: SMALL_PARTS });
    const boom = new Error("producer broke");
    async function* body() {
      yield Buffer.alloc(2 * MiB, 1);
      yield Buffer.alloc(2 * MiB, 2);
      throw boom;
    }
    await expect(store.put("a.tar.gz", body())).rejects.toBe(boom);
    expect(await store.stat("a.tar.gz")).toBeUndefined();
    expect(await listUploads(admin, bucket)).toEqual([]);
    await store.close();
  });

  it("closing the store aborts a put in flight", async () => {
    const { store } = await openStore(s3Url(bucket, "close/"), {}, { limits: SMALL_PARTS });
    const put = store.put("a.tar.gz", stallingBody(3 * MiB));
    await expect.poll(async () => (await listUploads(admin, bucket)).length, { timeout: 20_000 }).toBe(1);
    await store.close();
    expect(VsnapError.is(await put.catch((e: unknown) => e), "ABORTED")).toBe(true);
    expect(await listUploads(admin, bucket)).toEqual([]);
  });

  it("a writer killed mid-upload leaves an invisible upload that the next put of the key cleans up", async () => {
    const killed = await newBucket(admin, "killed");
    const url = s3Url(killed, "k/a.tar.gz");
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL("./fixtures/slow-put.mjs", import.meta.url)), url],
      {
        stdio: ["ignore", "pipe", "inherit"],
        cwd: path.dirname(fileURLToPath(import.meta.url)),
      },
    );
    const exited = new Promise((resolve) => child.once("exit", resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => d.toString().includes("upload-started") && resolve());
      child.once("exit", () => reject(new Error("slow-put exited before starting its upload")));
    });
    child.kill("SIGKILL");
    await exited;
    expect((await listUploads(admin, killed)).length).toBe(1);
    const { store, logs } = await openStore(url);
    expect(await store.stat("a.tar.gz")).toBeUndefined();
    await store.put("a.tar.gz", randomBody(10).body);
    expect(await listUploads(admin, killed)).toEqual([]);
    expect(logs.join("\n")).toMatch(/aborted 1 unfinished upload/);
    await store.close();
  });
});

describe("part sizes", () => {
  it("with S3's limits, 10,000 growing parts hold more than S3's 5 TiB object limit", () => {
    const plan = new PartPlan(S3_PART_LIMITS);
    expect(plan.capacity()).toBeGreaterThan(5 * 1024 ** 4);
    // lib-storage's fixed 5 MiB parts stop at 48.8 GiB
    expect(5 * MiB * 10_000).toBeLessThan(49 * 1024 ** 3);
    // small snapshots keep small parts and little memory: 8 MiB parts, 4 in flight
    expect(plan.partSize(1)).toBe(8 * MiB);
    expect(plan.memoryBound(plan.partSize(1))).toBe(40 * MiB);
    // a 6 GiB snapshot of unknown size fits in the first 1,000 parts
    expect(plan.partSize(768)).toBe(8 * MiB);
    // memory stays bounded as parts grow: parts in flight shrink to the byte budget
    expect(plan.memoryBound(plan.partSize(4001))).toBe(2 * 128 * MiB);
  });

  it("a size hint raises the first part so that half the part budget holds the hinted size", () => {
    const plan = new PartPlan(S3_PART_LIMITS, 100 * 1024 ** 3);
    expect(plan.partSize(1) * 5000).toBeGreaterThanOrEqual(100 * 1024 ** 3);
    expect(new PartPlan(S3_PART_LIMITS, 1024).partSize(1)).toBe(8 * MiB);
  });

  it("uploads more than parts × first part size without hitting the part limit (a 6 GiB-equivalent, scaled down)", async () => {
    // Scaled down: 10 parts of 1 MiB hold 10 MiB, as 10,000 of 5 MiB hold 48.8 GiB; send 12 MiB with no size hint.
    const limits = { ...SMALL_PARTS, maxParts: 10 };
    const proxy = await startS3FaultProxy(rgw().endpoint);
    try {
      const { store } = await openStore(s3Url(bucket, "grow/", { endpoint: proxy.endpoint }), {}, { limits });
      const data = randomBody(12 * MiB);
      await store.put("a.tar.gz", data.body);
      const parts = proxy.requests
        .filter((r) => r.operation === "UploadPart")
        .sort((a, b) => (a.partNumber ?? 0) - (b.partNumber ?? 0));
      expect(parts.length).toBeLessThanOrEqual(10);
      expect(parts.map((p) => p.contentLength)).toEqual([1 * MiB, 2 * MiB, 4 * MiB, 5 * MiB]);
      expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(data.digest());
      await store.close();
    } finally {
      await proxy.close();
    }
  });
});
