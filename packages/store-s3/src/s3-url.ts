import {
  booleanParam,
  type DecodedParams,
  type PluginParseResult,
  secretParam,
  stringParam,
  type UrlParts,
  VsnapError,
} from "@vsnap/core";
import type { Encryption, S3Options, StaticCredentials } from "./s3-options.js";
import { type ChecksumAlgorithmName, S3_FORMAT, SSE_ALGORITHMS, type SseAlgorithm } from "./s3-params.js";

const invalid = (message: string, hint = `expected ${S3_FORMAT}`) =>
  new VsnapError("INVALID_URL", message, { hint });

/**
 * `s3://bucket/backups/snap-1.tar.gz?region=eu-west-1` -> key `snap-1.tar.gz`, store root
 * `backups/` in `bucket`. A URL ending in `/` names the directory itself (key ""), for listing.
 * Core has already rejected unknown parameters, decoded base64 and wrapped secrets.
 */
export function parseS3Url({ url, params }: UrlParts): PluginParseResult<S3Options> {
  if (url.username !== "" || url.password !== "") {
    throw invalid(
      "s3:// URLs take no user name or password",
      "pass credentials as access-key-id=BASE64&secret-access-key=BASE64, or rely on the local AWS credentials",
    );
  }
  if (url.port !== "") throw invalid(`unexpected port in s3 bucket "${url.host}"`);
  if (url.hash !== "") throw invalid(`"#" in an S3 key must be written as %23`);
  const bucket = decode(url.hostname, "bucket name");
  if (bucket === "") throw invalid(`bucket name is missing from url, expected format: ${S3_FORMAT}`);
  const path = decode(url.pathname, "key").replace(/^\//, "");
  const slash = path.lastIndexOf("/");
  const key = path.slice(slash + 1);
  const prefix = path.slice(0, slash + 1);

  const options: S3Options = {
    bucket,
    prefix,
    ...optional("region", regionParam(params)),
    ...optional("endpoint", endpointParam(params)),
    forcePathStyle: booleanParam(params, "force-path-style"),
    insecureSkipTlsVerify: booleanParam(params, "insecure-skip-tls-verify"),
    ...optional("caCert", caCertParam(params)),
    ...optional("profile", nonEmpty(params, "profile")),
    ...optional("credentialsFile", nonEmpty(params, "credentials-file")),
    skipClientCredentials: booleanParam(params, "skip-client-credentials"),
    ...optional("credentials", credentialsParam(params)),
    encryption: encryptionParams(params),
    ...optional("tagging", taggingParam(params)),
    ...optional(
      "checksumAlgorithm",
      stringParam(params, "checksum-algorithm") as ChecksumAlgorithmName | undefined,
    ),
  };
  return { key, options };
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid(`malformed percent-encoding in the ${what} "${text}"`);
  }
}

function optional<K extends string, V>(name: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: V };
}

function nonEmpty(params: DecodedParams, name: string): string | undefined {
  const value = stringParam(params, name);
  if (value === undefined) return undefined;
  if (value === "") throw invalid(`parameter "${name}" is empty`, `remove it or give it a value`);
  return value;
}

function regionParam(params: DecodedParams): string | undefined {
  const region = nonEmpty(params, "region");
  if (region !== undefined && !/^[a-z0-9][a-z0-9-]*$/.test(region)) {
    throw invalid(`parameter "region" must look like us-east-1, got ${JSON.stringify(region)}`);
  }
  return region;
}

function endpointParam(params: DecodedParams): string | undefined {
  const raw = nonEmpty(params, "url");
  if (raw === undefined) return undefined;
  let endpoint: URL;
  try {
    endpoint = new URL(raw);
  } catch {
    throw invalid(
      `Invalid s3 url ${JSON.stringify(raw)}: not a URL`,
      "url= is the base64 of e.g. https://minio:9000",
    );
  }
  if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") {
    throw invalid(`Invalid s3 url ${JSON.stringify(raw)}: the scheme must be http or https`);
  }
  if (endpoint.username || endpoint.password) {
    throw invalid("the url parameter must not carry credentials", "use access-key-id and secret-access-key");
  }
  if (endpoint.search || endpoint.hash)
    throw invalid(`Invalid s3 url ${JSON.stringify(raw)}: no query or fragment`);
  return endpoint.href.replace(/\/$/, "");
}

function caCertParam(params: DecodedParams): string | undefined {
  const pem = nonEmpty(params, "ca-cert");
  if (pem !== undefined && !pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw invalid(
      'parameter "ca-cert" must be the base64 of a PEM certificate',
      "encode it with `base64 -w0 < ca.crt`",
    );
  }
  return pem;
}

function credentialsParam(params: DecodedParams): StaticCredentials | undefined {
  const accessKeyId = secretParam(params, "access-key-id");
  const secretAccessKey = secretParam(params, "secret-access-key");
  const sessionToken = secretParam(params, "session-token");
  if (!accessKeyId && !secretAccessKey) {
    if (sessionToken) throw invalid("session-token needs access-key-id and secret-access-key");
    return undefined;
  }
  if (!accessKeyId || !secretAccessKey) {
    throw invalid(
      `${accessKeyId ? "secret-access-key" : "access-key-id"} is missing: URL credentials need both access-key-id and secret-access-key`,
    );
  }
  if (accessKeyId.reveal() === "" || secretAccessKey.reveal() === "") {
    throw invalid("access-key-id and secret-access-key must not be empty");
  }
  return sessionToken && sessionToken.reveal() !== ""
    ? { accessKeyId, secretAccessKey, sessionToken }
    : { accessKeyId, secretAccessKey };
}

/** `AES256`/`aws:kms` as written, or base64 of them as vCluster's URLs carry them. */
export function sseAlgorithmOf(raw: string): SseAlgorithm | undefined {
  const plain = SSE_ALGORITHMS.find((a) => a.toLowerCase() === raw.trim().toLowerCase());
  if (plain) return plain;
  const b64 = raw.replace(/ /g, "+").trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const decoded = Buffer.from(b64, "base64").toString("utf8").trim();
  return SSE_ALGORITHMS.find((a) => a.toLowerCase() === decoded.toLowerCase());
}

function encryptionParams(params: DecodedParams): Encryption {
  const sseRaw = stringParam(params, "server-side-encryption");
  const kmsKeyId = nonEmpty(params, "kms-key-id");
  const keyFile = nonEmpty(params, "custom-key-encryption-file");
  let sse: SseAlgorithm | undefined;
  if (sseRaw !== undefined) {
    sse = sseAlgorithmOf(sseRaw);
    if (!sse) {
      throw invalid(
        `parameter "server-side-encryption" must be AES256 or aws:kms, got ${JSON.stringify(sseRaw)}`,
        "for SSE-C use custom-key-encryption-file instead",
      );
    }
  }
  if (keyFile !== undefined) {
    if (kmsKeyId !== undefined) {
      throw invalid(
        "you cannot use kms key and encryption file at the same time (kms-key-id and custom-key-encryption-file)",
        "choose SSE-KMS (kms-key-id) or SSE-C (custom-key-encryption-file)",
      );
    }
    if (sse !== undefined) {
      throw invalid(
        `server-side-encryption=${sse} and custom-key-encryption-file (SSE-C) exclude each other`,
        "SSE-C objects are encrypted with your key only; drop server-side-encryption",
      );
    }
    return { mode: "SSE-C", keyFile };
  }
  if (kmsKeyId !== undefined) {
    if (sse === "AES256") {
      throw invalid(
        "kms-key-id needs server-side-encryption=aws:kms, not AES256",
        "drop server-side-encryption: kms-key-id implies aws:kms",
      );
    }
    return { mode: "aws:kms", kmsKeyId };
  }
  if (sse === "aws:kms") return { mode: "aws:kms" };
  if (sse === "AES256") return { mode: "AES256" };
  return { mode: "none" };
}

function taggingParam(params: DecodedParams): string | undefined {
  const raw = stringParam(params, "tagging");
  if (raw === undefined || raw.trim() === "") return undefined;
  const tags = [...new URLSearchParams(raw.trim())];
  if (tags.some(([name]) => name === "")) {
    throw invalid(`parameter "tagging" has an empty tag name`, "write tags as key1=value1&key2=value2");
  }
  // percent-encoding (not "+" for spaces): the form S3's x-amz-tagging header documents
  return tags.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
}
