import { HeadBucketCommand } from "@aws-sdk/client-s3";
import { parseKnownFiles } from "@smithy/core/config";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { isAbortError, VsnapError } from "@vsnap/core";
import { createS3Client } from "./client.js";
import { type Env, sharedFiles } from "./credentials.js";
import type { S3Options } from "./s3-options.js";

/** What S3-compatible services without regions (MinIO, Ceph by default) expect in signatures. */
export const FALLBACK_REGION = "us-east-1";

export interface RegionContext {
  readonly env: Env;
  readonly credentials: AwsCredentialIdentityProvider;
  readonly log?: ((message: string) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * The bucket's region: the URL's `region`, the region of an explicitly chosen profile or
 * credentials file, AWS_REGION / AWS_DEFAULT_REGION, the ambient profile's region, and last the
 * bucket itself (HeadBucket answers with `x-amz-bucket-region`, even when it refuses access).
 * A custom endpoint that does not tell falls back to us-east-1; for AWS it is an error.
 */
export async function resolveRegion(options: S3Options, context: RegionContext): Promise<string> {
  if (options.region) return options.region;
  const { env } = context;
  const explicit = options.profile !== undefined || options.credentialsFile !== undefined;
  const fromProfile = await profileRegion(options, env);
  if (explicit && fromProfile) return fromProfile;
  const fromEnv = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (fromEnv) return fromEnv;
  if (fromProfile) return fromProfile;

  const discovered = await discoverBucketRegion(options, context);
  if (discovered.region) return discovered.region;
  if (options.endpoint) {
    context.log?.(
      `s3://${options.bucket}: the endpoint did not name the bucket's region; using ${FALLBACK_REGION}`,
    );
    return FALLBACK_REGION;
  }
  if (VsnapError.is(discovered.error, "UNAUTHENTICATED") || VsnapError.is(discovered.error, "ABORTED")) {
    throw discovered.error;
  }
  const why = discovered.error instanceof Error ? `: ${discovered.error.message.split("\n")[0]}` : "";
  throw new VsnapError(
    "INVALID_ARGUMENT",
    `unable to determine the region of bucket "${options.bucket}"${why}`,
    {
      cause: discovered.error,
      hint: "add region=REGION to the URL (e.g. s3://BUCKET/KEY?region=eu-west-1), set AWS_REGION, or set region in the AWS profile",
    },
  );
}

async function profileRegion(options: S3Options, env: Env): Promise<string | undefined> {
  const files = sharedFiles(options, env);
  try {
    const profiles = await parseKnownFiles({ ...files, ignoreCache: true });
    const region = profiles[files.profile]?.region;
    return typeof region === "string" && region !== "" ? region : undefined;
  } catch {
    return undefined; // no files: nothing to learn from them
  }
}

async function discoverBucketRegion(
  options: S3Options,
  context: RegionContext,
): Promise<{ region?: string; error?: unknown }> {
  const client = createS3Client(options, {
    region: FALLBACK_REGION,
    credentials: context.credentials,
    maxAttempts: 2,
  });
  try {
    const out = await client.send(new HeadBucketCommand({ Bucket: options.bucket }), {
      abortSignal: context.signal,
    });
    const region = out.BucketRegion;
    return region ? { region } : {};
  } catch (error) {
    if (isAbortError(error)) return { error: new VsnapError("ABORTED", "region lookup aborted") };
    const headers = (error as { $response?: { headers?: Record<string, string> } }).$response?.headers;
    const region = headers?.["x-amz-bucket-region"];
    return region ? { region } : { error };
  } finally {
    client.destroy();
  }
}
