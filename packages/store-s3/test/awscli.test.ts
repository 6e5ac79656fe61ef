import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AWS_CLI,
  adminClient,
  awsCli,
  collect,
  MiB,
  newBucket,
  openStore,
  randomBody,
  SMALL_PARTS,
  s3Url,
  sha256Of,
} from "./helpers.js";

let admin: S3Client;
let bucket: string;
let dir: string;

beforeAll(async () => {
  admin = adminClient();
  bucket = await newBucket(admin, "awscli");
  dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-s3-cli-"));
});
afterAll(() => {
  admin.destroy();
  rmSync(dir, { recursive: true, force: true });
});

// An independent client (Debian's aws-cli v2, botocore) agrees with what the store wrote and read.
describe.runIf(existsSync(AWS_CLI))("cross-check with the aws CLI", () => {
  it("lists our multipart object and downloads the same bytes", async () => {
    const { store } = await openStore(s3Url(bucket, "ours/"), {}, { limits: SMALL_PARTS });
    const data = randomBody(3 * MiB + 11);
    await store.put("snap.tar.gz", data.body);
    await store.close();

    const file = path.join(dir, "download");
    const [listing] = await Promise.all([
      awsCli(["s3", "ls", `s3://${bucket}/ours/`]),
      awsCli(["s3", "cp", "--no-progress", `s3://${bucket}/ours/snap.tar.gz`, file]),
    ]);
    expect(listing).toMatch(new RegExp(`\\s${3 * MiB + 11} snap\\.tar\\.gz`));
    expect(createHash("sha256").update(readFileSync(file)).digest("hex")).toBe(data.digest());
  });

  it("reads and lists what the aws CLI uploaded (its own multipart)", async () => {
    const bytes = randomBytes(9 * MiB);
    const file = path.join(dir, "upload.tar.gz");
    writeFileSync(file, bytes);
    await awsCli(["s3", "cp", "--no-progress", file, `s3://${bucket}/theirs/upload.tar.gz`]);
    const { store } = await openStore(s3Url(bucket, "theirs/"));
    expect((await collect(store.list())).map((o) => [o.key, o.size])).toEqual([
      ["upload.tar.gz", bytes.length],
    ]);
    const got = await sha256Of((await store.get("upload.tar.gz")).body);
    expect(got.hex).toBe(createHash("sha256").update(bytes).digest("hex"));
    await store.close();
  });
});
