import { type ErrorCode, isAbortError, VsnapError } from "@vsnap/core";

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
  tryNextLink?: boolean;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
]);

const TLS_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_UNTRUSTED",
  "EPROTO",
  "ERR_SSL_WRONG_VERSION_NUMBER",
]);

interface Mapping {
  readonly code: ErrorCode;
  readonly what: string;
  readonly hint?: string;
}

const CREDENTIALS_HINT =
  "check access-key-id/secret-access-key, the AWS profile or environment credentials; temporary credentials may have expired";

const BY_NAME: Record<string, Mapping> = {
  NoSuchKey: { code: "NOT_FOUND", what: "does not exist" },
  NotFound: { code: "NOT_FOUND", what: "does not exist" },
  NoSuchBucket: {
    code: "NOT_FOUND",
    what: "bucket does not exist",
    hint: "check the bucket name, or create it",
  },
  NoSuchUpload: {
    code: "CONFLICT",
    what: "the multipart upload was aborted meanwhile (a newer snapshot to the same key cleans up older ones)",
  },
  AccessDenied: {
    code: "PERMISSION_DENIED",
    what: "access denied",
    hint: "the credentials lack permission (s3:GetObject, s3:PutObject, s3:ListBucket, s3:DeleteObject, kms:GenerateDataKey/kms:Decrypt for SSE-KMS), or a bucket policy denies it",
  },
  AllAccessDisabled: { code: "PERMISSION_DENIED", what: "all access to this bucket has been disabled" },
  AccountProblem: {
    code: "PERMISSION_DENIED",
    what: "the account has a problem that prevents the operation",
  },
  InvalidAccessKeyId: {
    code: "UNAUTHENTICATED",
    what: "the access key id is unknown",
    hint: CREDENTIALS_HINT,
  },
  SignatureDoesNotMatch: {
    code: "UNAUTHENTICATED",
    what: "the request signature does not match (wrong secret access key?)",
    hint: CREDENTIALS_HINT,
  },
  ExpiredToken: { code: "UNAUTHENTICATED", what: "the session token has expired", hint: CREDENTIALS_HINT },
  InvalidToken: { code: "UNAUTHENTICATED", what: "the session token is invalid", hint: CREDENTIALS_HINT },
  TokenRefreshRequired: {
    code: "UNAUTHENTICATED",
    what: "the session token must be refreshed",
    hint: CREDENTIALS_HINT,
  },
  CredentialsProviderError: {
    code: "UNAUTHENTICATED",
    what: "no usable AWS credentials",
    hint: CREDENTIALS_HINT,
  },
  AuthorizationHeaderMalformed: {
    code: "INVALID_ARGUMENT",
    what: "the request was signed for the wrong region",
    hint: "set region= to the bucket's region",
  },
  PermanentRedirect: {
    code: "INVALID_ARGUMENT",
    what: "the bucket is in another region or needs another endpoint",
    hint: "set region= to the bucket's region",
  },
  SlowDown: { code: "UNAVAILABLE", what: "the service asked to slow down and retries were exhausted" },
  ServiceUnavailable: { code: "UNAVAILABLE", what: "the service is unavailable" },
  InternalError: { code: "UNAVAILABLE", what: "the service had an internal error" },
  RequestTimeout: { code: "UNAVAILABLE", what: "the request timed out" },
  TimeoutError: { code: "TIMEOUT", what: "the request timed out" },
  RequestTimeTooSkewed: {
    code: "UNAUTHENTICATED",
    what: "this machine's clock differs too much from the service's",
    hint: "synchronise the clock (NTP)",
  },
  NotImplemented: {
    code: "UNSUPPORTED",
    what: "the service does not implement a feature this request uses",
    hint: "S3-compatible services differ: try without tagging, checksum-algorithm or server-side-encryption",
  },
  InvalidBucketName: { code: "INVALID_URL", what: "the bucket name is not valid" },
  KeyTooLongError: { code: "INVALID_ARGUMENT", what: "the object key is too long" },
  MetadataTooLarge: {
    code: "INVALID_ARGUMENT",
    what: "the snapshot's annotations exceed the 2 KB S3 metadata limit",
  },
  EntityTooLarge: { code: "INVALID_ARGUMENT", what: "the object or a part is too large" },
  InvalidTag: {
    code: "INVALID_ARGUMENT",
    what: "the tagging parameter is not valid",
    hint: "tags are key=value&key2=value2",
  },
  "KMS.NotFoundException": {
    code: "INVALID_ARGUMENT",
    what: "the KMS key does not exist",
    hint: "check kms-key-id",
  },
  "KMS.DisabledException": { code: "FAILED_PRECONDITION", what: "the KMS key is disabled" },
  PreconditionFailed: { code: "CONFLICT", what: "the object changed meanwhile" },
  BucketAlreadyOwnedByYou: { code: "ALREADY_EXISTS", what: "the bucket already exists" },
};

/**
 * Turns an AWS SDK error into a VsnapError with one of vsnap's codes and a message that names the
 * operation and the object (display form: no secrets). The SDK's own message is kept only where it
 * adds something: rgw, for one, reports most errors as "UnknownError".
 */
export function s3Error(error: unknown, action: string, display: string): VsnapError {
  if (VsnapError.is(error)) return error;
  if (isAbortError(error))
    return new VsnapError("ABORTED", `${action} ${display}: aborted`, { cause: error });
  const e = (error ?? {}) as SdkErrorShape;
  const name = e.name ?? "Error";
  const status = e.$metadata?.httpStatusCode;
  const errno = e.code ?? (error as { cause?: { code?: string } })?.cause?.code;
  const where = `${action} ${display}`;
  const tag = status ? ` (${name}, HTTP ${status})` : name !== "Error" ? ` (${name})` : "";

  if (errno && TLS_CODES.has(errno)) {
    return new VsnapError("UNAVAILABLE", `${where}: TLS verification of the endpoint failed (${errno})`, {
      cause: error,
      hint: "pass the endpoint's CA as ca-cert=BASE64_PEM (or, for testing only, insecure-skip-tls-verify=true)",
    });
  }
  if (
    (errno && NETWORK_CODES.has(errno)) ||
    /socket hang up|ECONNRESET|ECONNREFUSED|ENOTFOUND/.test(e.message ?? "")
  ) {
    return new VsnapError("UNAVAILABLE", `${where}: cannot reach the S3 endpoint (${errno ?? e.message})`, {
      cause: error,
      hint: "check the url= endpoint, the network and any proxy; force-path-style=true helps when BUCKET.HOST does not resolve",
    });
  }
  const mapped = BY_NAME[name];
  if (mapped) {
    const region = e.$response?.headers?.["x-amz-bucket-region"];
    const hint =
      region && mapped.hint?.includes("region") ? `set region=${region} (the bucket's region)` : mapped.hint;
    return new VsnapError(mapped.code, `${where}: ${mapped.what}${tag}`, {
      cause: error,
      ...(hint ? { hint } : {}),
    });
  }
  const detail = e.message && e.message !== name && e.message !== "UnknownError" ? `: ${e.message}` : "";
  if (status !== undefined && status >= 500) {
    return new VsnapError("UNAVAILABLE", `${where}: the service failed${detail}${tag}`, { cause: error });
  }
  if (status === 404) return new VsnapError("NOT_FOUND", `${where}: does not exist${tag}`, { cause: error });
  if (status === 403) {
    return new VsnapError("PERMISSION_DENIED", `${where}: access denied${detail}${tag}`, {
      cause: error,
      hint: BY_NAME.AccessDenied?.hint,
    });
  }
  if (status === 400 && /encrypt|SSE|customer/i.test(`${name} ${e.message ?? ""}`)) {
    return new VsnapError(
      "INVALID_ARGUMENT",
      `${where}: the service refused the encryption settings${detail}${tag}`,
      {
        cause: error,
        hint: "objects written with SSE-C need the same custom-key-encryption-file to be read",
      },
    );
  }
  if (status !== undefined && status >= 400) {
    return new VsnapError("INVALID_ARGUMENT", `${where}: the service rejected the request${detail}${tag}`, {
      cause: error,
    });
  }
  return new VsnapError("PLUGIN", `${where}: ${e.message ?? String(error)}`, { cause: error });
}
