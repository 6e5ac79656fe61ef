import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { parseWithPlugin, VsnapError } from "@vsnap/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromRequestOptions, openS3Store, s3StorePlugin, toRequestOptions } from "../src/index.js";
import {
  adminClient,
  awsCli,
  b64,
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
let dir: string;
let keyFile: string;
let key: Buffer;

beforeAll(async () => {
  admin = adminClient();
  bucket = await newBucket(admin, "sse");
  dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-s3-sse-"));
  key = randomBytes(32);
  keyFile = path.join(dir, "sse-c.key");
  writeFileSync(keyFile, key);
});
afterAll(() => {
  admin.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe("SSE-KMS", () => {
  it("encrypts with the given key id; head-object (ours and the aws CLI's) shows it", async () => {
    const { store } = await openStore(
      s3Url(bucket, "kms/", { params: { "kms-key-id": b64(rgw().kmsKeyId) } }),
      {},
      {
        limits: SMALL_PARTS,
      },
    );
    const data = randomBody(2 * MiB + 5); // multipart
    await store.put("a.tar.gz", data.body);
    expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(data.digest());
    const head = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: "kms/a.tar.gz" }));
    expect(head.ServerSideEncryption).toBe("aws:kms");
    expect(head.SSEKMSKeyId).toBe(rgw().kmsKeyId);
    const cli = JSON.parse(
      await awsCli(["s3api", "head-object", "--bucket", bucket, "--key", "kms/a.tar.gz"]),
    );
    expect(cli).toMatchObject({ ServerSideEncryption: "aws:kms", SSEKMSKeyId: rgw().kmsKeyId });
    await store.close();
  });

  it("the seed's --kms-key-id flag reaches the server the same way", async () => {
    const { applyS3Flags } = await import("../src/index.js");
    const url = applyS3Flags(s3Url(bucket, "kmsflag/"), { kmsKeyId: rgw().kmsKeyId });
    const { store } = await openStore(url);
    await store.put("a.tar.gz", randomBody(100).body);
    const head = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: "kmsflag/a.tar.gz" }));
    expect(head.SSEKMSKeyId).toBe(rgw().kmsKeyId);
    await store.close();
  });
});

describe("SSE-S3", () => {
  it("sends AES256 and round-trips (radosgw accepts it but does not record it)", async () => {
    const { store } = await openStore(
      s3Url(bucket, "aes/", { params: { "server-side-encryption": "AES256" } }),
    );
    const data = randomBody(1000);
    await store.put("a.tar.gz", data.body);
    expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(data.digest());
    await store.close();
  });
});

describe("SSE-C", () => {
  const ssec = () => ({ params: { "custom-key-encryption-file": b64(keyFile) } });

  it("encrypts every part with the customer key and needs it to read back", async () => {
    const { store } = await openStore(s3Url(bucket, "ssec/", ssec()), {}, { limits: SMALL_PARTS });
    const data = randomBody(3 * MiB + 3);
    const info = await store.put("a.tar.gz", data.body);
    expect(info.size).toBe(3 * MiB + 3);
    expect((await store.stat("a.tar.gz"))?.size).toBe(3 * MiB + 3);
    expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(data.digest());

    // the aws CLI, given the same key, sees SSE-C recorded
    const cli = JSON.parse(
      await awsCli([
        "s3api",
        "head-object",
        "--bucket",
        bucket,
        "--key",
        "ssec/a.tar.gz",
        "--sse-customer-algorithm",
        "AES256",
        "--sse-customer-key",
        `fileb://${keyFile}`,
      ]),
    );
    expect(cli.SSECustomerAlgorithm).toBe("AES256");

    // without the key, reading fails with an error that says why
    const { store: plain } = await openStore(s3Url(bucket, "ssec/"));
    const error = await plain.get("a.tar.gz").catch((e: unknown) => e);
    expect(VsnapError.is(error, "INVALID_ARGUMENT")).toBe(true);
    expect((error as VsnapError).hint).toMatch(/custom-key-encryption-file/);

    // with another key, too
    const otherFile = path.join(dir, "other.key");
    writeFileSync(otherFile, randomBytes(32));
    const { store: other } = await openStore(
      s3Url(bucket, "ssec/", { params: { "custom-key-encryption-file": b64(otherFile) } }),
    );
    const wrong = await other.get("a.tar.gz").catch((e: unknown) => e);
    expect(VsnapError.is(wrong)).toBe(true);
    expect(["INVALID_ARGUMENT", "PERMISSION_DENIED"]).toContain((wrong as VsnapError).code);
    await Promise.all([store.close(), plain.close(), other.close()]);
  });

  it("takes the key as raw 32 bytes or as their base64 text, and rejects anything else", async () => {
    const textFile = path.join(dir, "sse-c.b64");
    writeFileSync(textFile, `${key.toString("base64")}\n`);
    const { store: raw } = await openStore(s3Url(bucket, "ssec2/", ssec()));
    await raw.put("a.tar.gz", randomBody(10).body);
    const { store: text } = await openStore(
      s3Url(bucket, "ssec2/", { params: { "custom-key-encryption-file": b64(textFile) } }),
    );
    expect((await text.stat("a.tar.gz"))?.size).toBe(10);
    await Promise.all([raw.close(), text.close()]);

    const shortFile = path.join(dir, "short.key");
    writeFileSync(shortFile, randomBytes(31));
    for (const file of [shortFile, path.join(dir, "missing.key")]) {
      const error = await openStore(
        s3Url(bucket, "ssec2/", { params: { "custom-key-encryption-file": b64(file) } }),
      ).catch((e: unknown) => e);
      expect(VsnapError.is(error, "INVALID_ARGUMENT")).toBe(true);
      expect((error as Error).message).toMatch(/not exactly 32 bytes|does not exist/);
    }
  });

  it("the CLI sends the key itself to the cluster: the controller needs no key file", async () => {
    const location = parseWithPlugin(s3Url(bucket, "ssec3/a.tar.gz", ssec()), s3StorePlugin);
    const data = await toRequestOptions(location, { env: {} });
    expect(data.encryption).toEqual({ mode: "SSE-C", customerKey: key.toString("base64") });
    const { store } = await openStore(s3Url(bucket, "ssec3/", ssec()));
    const body = randomBody(500);
    await store.put("a.tar.gz", body.body);
    await store.close();
    // in the "cluster": options rebuilt from the Secret's data, the key file gone
    const options = fromRequestOptions(JSON.parse(JSON.stringify(data)));
    const remote = await openS3Store({ ...location, options }, { env: {} });
    expect((await sha256Of((await remote.get("a.tar.gz")).body)).hex).toBe(body.digest());
    await remote.close();
    expect(await listUploads(admin, bucket)).toEqual([]);
  });
});
