import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import type { S3Options } from "./s3-options.js";

export interface ClientSettings {
  readonly region: string;
  readonly credentials: AwsCredentialIdentityProvider;
  /** Attempts per request (the SDK retries 5xx, SlowDown, throttling and dropped connections). */
  readonly maxAttempts?: number;
  /** Sockets per endpoint: the parts in flight plus room for list/head. */
  readonly maxSockets?: number;
}

const CONNECT_TIMEOUT_MS = 30_000;
// idle socket time, not total time: a 5 GiB part on a slow link must still get through
const IDLE_TIMEOUT_MS = 120_000;

/** TLS trust for the endpoint: the system's CAs (NODE_EXTRA_CA_CERTS included) plus `ca-cert`. */
export function httpsAgentFor(
  options: Pick<S3Options, "caCert" | "insecureSkipTlsVerify">,
  maxSockets: number,
) {
  const system =
    typeof tls.getCACertificates === "function" ? tls.getCACertificates("default") : tls.rootCertificates;
  return new https.Agent({
    keepAlive: true,
    maxSockets,
    ...(options.caCert ? { ca: [...system, options.caCert] } : {}),
    ...(options.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
  });
}

/**
 * An S3 client for the URL's endpoint. Checksums are sent only when asked (`checksum-algorithm`):
 * since SDK v3.729 the default CRC32 headers break R2, B2, older MinIO and Ceph (aws-sdk-js-v3#6810),
 * and vsnap's SHA-256 manifest checks every snapshot end to end anyway.
 */
export function createS3Client(options: S3Options, settings: ClientSettings): S3Client {
  const maxSockets = settings.maxSockets ?? 16;
  return new S3Client({
    region: settings.region,
    credentials: settings.credentials,
    ...(options.endpoint ? { endpoint: options.endpoint } : { followRegionRedirects: true }),
    forcePathStyle: options.forcePathStyle,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: settings.maxAttempts ?? 5,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
      httpsAgent: httpsAgentFor(options, maxSockets),
      connectionTimeout: CONNECT_TIMEOUT_MS,
      requestTimeout: IDLE_TIMEOUT_MS,
    }),
  });
}
