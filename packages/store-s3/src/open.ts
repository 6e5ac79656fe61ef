import type { ParsedLocation, StoreContext } from "@vsnap/core";
import { createS3Client } from "./client.js";
import { credentialProvider } from "./credentials.js";
import { resolveEncryption } from "./encryption.js";
import type { PartLimits } from "./part-plan.js";
import { resolveRegion } from "./region.js";
import type { S3Options } from "./s3-options.js";
import { S3Store } from "./s3-store.js";

/** Knobs the plugin contract does not carry; tests and benchmarks lower them. */
export interface S3StoreTuning {
  /** Multipart limits (S3's by default). */
  readonly limits?: PartLimits;
  /** Attempts per request, retries included (default 5). */
  readonly maxAttempts?: number;
  /** Keys per list page (S3's default 1000). */
  readonly listPageSize?: number;
}

/**
 * Opens the store an `s3://` location names: credentials (URL, else the default chain), the
 * bucket's region, the SSE-C key when one is configured, and a client for the endpoint.
 */
export async function openS3Store(
  location: ParsedLocation<S3Options>,
  context: StoreContext,
  tuning: S3StoreTuning = {},
): Promise<S3Store> {
  const options = location.options;
  const credentials = credentialProvider(options, context.env);
  const encryption = await resolveEncryption(options.encryption);
  const region = await resolveRegion(options, { env: context.env, credentials, log: context.log });
  const client = createS3Client(options, {
    region,
    credentials,
    ...(tuning.maxAttempts ? { maxAttempts: tuning.maxAttempts } : {}),
  });
  return new S3Store({
    client,
    options,
    region,
    encryption,
    display: location.display,
    log: context.log,
    limits: tuning.limits,
    listPageSize: tuning.listPageSize,
  });
}
