import type { ParamSpecs } from "@vsnap/core";

export const S3_SCHEME = "s3";
export const S3_FORMAT = "s3://BUCKET/KEY";

/** The checksum algorithms S3 accepts for `x-amz-checksum-*` (the SDK's ChecksumAlgorithm enum). */
export const CHECKSUM_ALGORITHMS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"] as const;
export type ChecksumAlgorithmName = (typeof CHECKSUM_ALGORITHMS)[number];

export const SSE_ALGORITHMS = ["AES256", "aws:kms"] as const;
export type SseAlgorithm = (typeof SSE_ALGORITHMS)[number];

/**
 * Every query option of `s3://` URLs. Names, and which values are base64, follow vCluster's
 * S3 options so that a vCluster snapshot URL works unchanged; `server-side-encryption` also takes
 * the plain value (`AES256`, `aws:kms`) that vCluster's docs show.
 */
export const S3_PARAMS: ParamSpecs = {
  "access-key-id": {
    type: "base64",
    secret: true,
    description: "Access key ID (base64). Takes precedence over every local credential source.",
    example: "QUtJQUlPU0ZPRE5ON0VYQU1QTEU=",
  },
  "secret-access-key": {
    type: "base64",
    secret: true,
    description: "Secret access key (base64); required with access-key-id.",
    example: "d0phbHJYVXRuRkVNSS9LN01ERU5HL2JQeFJmaUNZRVhBTVBMRUtFWQ==",
  },
  "session-token": {
    type: "base64",
    secret: true,
    description: "Session token of temporary (STS) credentials (base64).",
  },
  region: {
    type: "string",
    description:
      "The bucket's region. Default: AWS_REGION, the profile's region, or asked of the bucket itself.",
    example: "eu-west-1",
  },
  profile: {
    type: "string",
    description:
      "Profile of the shared AWS config and credentials files to take credentials and region from.",
    example: "backup",
  },
  "skip-client-credentials": {
    type: "boolean",
    description:
      "Do not resolve local credentials for requests handed to the cluster; the controller uses its own (IRSA, pod identity, instance role).",
  },
  "server-side-encryption": {
    type: "string",
    description: "SSE-S3 (AES256) or SSE-KMS (aws:kms); plain or base64 as vCluster writes it.",
    example: "AES256",
  },
  "kms-key-id": {
    type: "base64",
    description: "KMS key ID, ARN or alias for SSE-KMS (base64); implies server-side-encryption=aws:kms.",
    example: "YWxpYXMvYmFja3Vwcw==",
  },
  "custom-key-encryption-file": {
    type: "base64",
    description:
      "Path (base64) of a file holding a 32-byte SSE-C key, raw or base64; the CLI sends the key itself to the cluster in the request's Secret.",
    example: "L2V0Yy92c25hcC9zc2UtYy5rZXk=",
  },
  url: {
    type: "base64",
    description:
      "Custom endpoint (base64) for S3-compatible services: MinIO, Ceph, Cloudflare R2, Backblaze B2.",
    example: "aHR0cHM6Ly9taW5pby5leGFtcGxlLmNvbTo5MDAw",
  },
  "public-url": {
    type: "base64",
    description:
      "Accepted for vCluster compatibility (it only feeds presigned URLs, which vsnap does not use).",
  },
  "force-path-style": {
    type: "boolean",
    description: "Address the bucket as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT (MinIO, Ceph).",
  },
  "insecure-skip-tls-verify": {
    type: "boolean",
    description: "Do not verify the endpoint's TLS certificate. Prefer ca-cert.",
  },
  "ca-cert": {
    type: "base64",
    description: "PEM CA certificate(s) (base64) trusted for the endpoint, in addition to the system's.",
  },
  tagging: {
    type: "base64",
    description: "Object tags as a URL query string (base64), e.g. base64 of `team=infra&env=prod`.",
    example: "dGVhbT1pbmZyYQ==",
  },
  "checksum-algorithm": {
    type: "enum",
    values: CHECKSUM_ALGORITHMS,
    description:
      "Send x-amz-checksum-* with every upload. Off by default: many S3-compatible services reject it, and the snapshot's SHA-256 manifest checks the data end to end.",
    example: "CRC32",
  },
  "credentials-file": {
    type: "base64",
    description:
      "Path (base64) of a shared credentials/config file used instead of ~/.aws/credentials and ~/.aws/config.",
    example: "L2V0Yy92c25hcC9hd3MtY3JlZGVudGlhbHM=",
  },
};
