import { execFile } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { promisify } from "node:util";
import {
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  type MultipartUpload,
  S3Client,
} from "@aws-sdk/client-s3";
import { type ParsedLocation, parseWithPlugin, type StoreContext } from "@vsnap/core";
import { inject } from "vitest";
import {
  openS3Store,
  type PartLimits,
  S3_PART_LIMITS,
  type S3Options,
  type S3Store,
  type S3StoreTuning,
  s3StorePlugin,
} from "../src/index.js";

export const MiB = 1024 * 1024;
/** S3's limits scaled down (1 MiB parts; the test server accepts them) so that tests move few bytes. */
export const SMALL_PARTS: PartLimits = {
  ...S3_PART_LIMITS,
  minPartSize: MiB,
  basePartSize: MiB,
  inFlightBytes: 4 * MiB,
};
export const rgw = () => inject("rgw");
export const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

/** A client of our own, independent of the store's, to look at the server behind the store's back. */
export function adminClient(endpoint = rgw().endpoint): S3Client {
  const info = rgw();
  return new S3Client({
    endpoint,
    region: info.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

export async function newBucket(client: S3Client, prefix = "vsnap"): Promise<string> {
  const bucket = `${prefix}-${randomUUID().slice(0, 8)}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

export interface UrlOptions {
  /** Put rgw's keys in the URL (default true). */
  readonly credentials?: boolean;
  /** Endpoint for url= (default rgw's HTTP endpoint); null for none. */
  readonly endpoint?: string | null;
  /** region= (default rgw's region); null for none. */
  readonly region?: string | null;
  readonly params?: Readonly<Record<string, string>>;
}

/** An s3:// URL for rgw: path style, region, credentials in the URL unless told otherwise. */
export function s3Url(bucket: string, key: string, options: UrlOptions = {}): string {
  const info = rgw();
  const query = new URLSearchParams();
  const endpoint = options.endpoint === undefined ? info.endpoint : options.endpoint;
  if (endpoint) query.set("url", b64(endpoint));
  query.set("force-path-style", "true");
  if (options.credentials !== false) {
    query.set("access-key-id", b64(info.accessKeyId));
    query.set("secret-access-key", b64(info.secretAccessKey));
  }
  const region = options.region === undefined ? info.region : options.region;
  if (region) query.set("region", region);
  for (const [name, value] of Object.entries(options.params ?? {})) query.set(name, value);
  return `s3://${bucket}/${key}?${query.toString()}`;
}

export interface Opened {
  readonly store: S3Store;
  readonly location: ParsedLocation<S3Options>;
  readonly logs: string[];
}

export async function openStore(
  url: string,
  context: Partial<StoreContext> = {},
  tuning: S3StoreTuning = {},
): Promise<Opened> {
  const logs: string[] = [];
  const location = parseWithPlugin(url, s3StorePlugin);
  const store = await openS3Store(
    location,
    {
      env: context.env ?? {},
      log: (message) => {
        logs.push(message);
        context.log?.(message);
      },
    },
    tuning,
  );
  return { store, location, logs };
}

/** Random bytes in chunks, hashed as they are pulled: what the store actually consumed. */
export function randomBody(bytes: number, chunkSize = 256 * 1024) {
  const hash = createHash("sha256");
  let pulled = 0;
  async function* body(): AsyncGenerator<Uint8Array> {
    while (pulled < bytes) {
      const chunk = randomBytes(Math.min(chunkSize, bytes - pulled));
      pulled += chunk.length;
      hash.update(chunk);
      yield chunk;
    }
  }
  return { body: body(), digest: () => hash.copy().digest("hex"), pulled: () => pulled };
}

/** A body that yields `bytes` and then stalls until the signal fires (or forever). */
export async function* stallingBody(bytes: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let sent = 0;
  while (sent < bytes) {
    const chunk = randomBytes(Math.min(MiB, bytes - sent));
    sent += chunk.length;
    yield chunk;
  }
  await new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    signal?.addEventListener("abort", () => resolve(), { once: true });
  });
}

export async function sha256Of(body: AsyncIterable<Uint8Array>): Promise<{ hex: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { hex: hash.digest("hex"), bytes };
}

export async function listUploads(client: S3Client, bucket: string): Promise<MultipartUpload[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return out.Uploads ?? [];
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const run = promisify(execFile);
/** Debian's aws CLI v2 (not the pyenv one on PATH): an independent S3 client to cross-check with. */
export const AWS_CLI = "/usr/bin/aws";

export async function awsCli(args: readonly string[]): Promise<string> {
  const info = rgw();
  const { stdout } = await run(AWS_CLI, ["--endpoint-url", info.endpoint, "--no-cli-pager", ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      AWS_ACCESS_KEY_ID: info.accessKeyId,
      AWS_SECRET_ACCESS_KEY: info.secretAccessKey,
      AWS_DEFAULT_REGION: info.region,
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_CONFIG_FILE: "/dev/null",
      AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    },
    maxBuffer: 64 * MiB,
    timeout: 60_000,
  });
  return stdout;
}
