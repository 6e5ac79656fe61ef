import { type ParsedLocation, Secret, type StoreContext, VsnapError } from "@vsnap/core";
import { credentialProvider } from "./credentials.js";
import { customerKeyFromBase64, readCustomerKeyFile } from "./encryption.js";
import { resolveRegion } from "./region.js";
import type { Encryption, S3Options, StaticCredentials } from "./s3-options.js";
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithmName } from "./s3-params.js";

/** Bumped when the shape changes; the controller refuses shapes it does not know. */
const REQUEST_OPTIONS_VERSION = 1;

/**
 * What the CLI hands the controller, in the request's Kubernetes Secret: the URL's options plus
 * what only the CLI's machine has: its AWS credentials (the default chain resolved here, as
 * vCluster's CLI does), the region of its profile, and the SSE-C key read from the key file (so
 * the cluster needs no copy of the file). With skip-client-credentials nothing local is sent and
 * the controller uses its own chain (IRSA, pod identity, instance role).
 */
export async function toRequestOptions(
  location: ParsedLocation<S3Options>,
  context: StoreContext,
): Promise<Record<string, unknown>> {
  const o = location.options;
  const data: Record<string, unknown> = {
    version: REQUEST_OPTIONS_VERSION,
    bucket: o.bucket,
    prefix: o.prefix,
    forcePathStyle: o.forcePathStyle,
    insecureSkipTlsVerify: o.insecureSkipTlsVerify,
    skipClientCredentials: o.skipClientCredentials,
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    ...(o.caCert ? { caCert: o.caCert } : {}),
    ...(o.tagging ? { tagging: o.tagging } : {}),
    ...(o.checksumAlgorithm ? { checksumAlgorithm: o.checksumAlgorithm } : {}),
    encryption: await encryptionData(o.encryption),
  };
  let credentials = o.credentials;
  if (!credentials && !o.skipClientCredentials) credentials = await localCredentials(o, context);
  if (credentials) data.credentials = credentialsData(credentials);
  if (o.skipClientCredentials) {
    // files the cluster side may have mounted: resolved there, not here
    if (o.profile) data.profile = o.profile;
    if (o.credentialsFile) data.credentialsFile = o.credentialsFile;
  }
  const region = o.region ?? (await localRegion(o, context, credentials));
  if (region) data.region = region;
  return data;
}

async function localCredentials(o: S3Options, context: StoreContext): Promise<StaticCredentials | undefined> {
  try {
    const identity = await credentialProvider(o, context.env)();
    return {
      accessKeyId: new Secret(identity.accessKeyId),
      secretAccessKey: new Secret(identity.secretAccessKey),
      ...(identity.sessionToken ? { sessionToken: new Secret(identity.sessionToken) } : {}),
      ...(identity.expiration ? { expiration: identity.expiration } : {}),
    };
  } catch (error) {
    // A profile or credentials file the user named must work; finding nothing at all is fine:
    // the cluster may have its own (IRSA), as with vCluster.
    if (o.profile !== undefined || o.credentialsFile !== undefined) throw error;
    context.log?.(
      "no local AWS credentials found; the cluster will use its own (IRSA, pod identity, instance role). Add skip-client-credentials=true to say so explicitly.",
    );
    return undefined;
  }
}

async function localRegion(
  o: S3Options,
  context: StoreContext,
  credentials: StaticCredentials | undefined,
): Promise<string | undefined> {
  try {
    const withCredentials = credentials ? { ...o, credentials } : o;
    return await resolveRegion(withCredentials, {
      env: context.env,
      credentials: credentialProvider(withCredentials, context.env),
      log: context.log,
    });
  } catch {
    return undefined; // the controller tries again, and reports it
  }
}

async function encryptionData(encryption: Encryption): Promise<Record<string, unknown>> {
  switch (encryption.mode) {
    case "none":
    case "AES256":
      return { mode: encryption.mode };
    case "aws:kms":
      return { mode: encryption.mode, ...(encryption.kmsKeyId ? { kmsKeyId: encryption.kmsKeyId } : {}) };
    case "SSE-C": {
      const key = encryption.key ?? (await readCustomerKeyFile(encryption.keyFile ?? ""));
      return { mode: "SSE-C", customerKey: key.reveal() };
    }
  }
}

function credentialsData(c: StaticCredentials): Record<string, string> {
  return {
    accessKeyId: c.accessKeyId.reveal(),
    secretAccessKey: c.secretAccessKey.reveal(),
    ...(c.sessionToken ? { sessionToken: c.sessionToken.reveal() } : {}),
    ...(c.expiration ? { expiration: c.expiration.toISOString() } : {}),
  };
}

/** The inverse of `toRequestOptions`, run by the controller; secrets are wrapped again. */
export function fromRequestOptions(data: Record<string, unknown>): S3Options {
  const bad = (why: string) =>
    new VsnapError("INVALID_ARGUMENT", `malformed s3 request options: ${why}`, {
      hint: "the request was written by an incompatible vsnap version; create it again",
    });
  if (data.version !== REQUEST_OPTIONS_VERSION)
    throw bad(`unsupported version ${JSON.stringify(data.version)}`);
  const str = (name: string, from: Record<string, unknown> = data): string | undefined => {
    const v = from[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") throw bad(`${name} must be a string`);
    return v;
  };
  const bool = (name: string): boolean => {
    const v = data[name];
    if (v === undefined) return false;
    if (typeof v !== "boolean") throw bad(`${name} must be a boolean`);
    return v;
  };
  const obj = (name: string): Record<string, unknown> | undefined => {
    const v = data[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) throw bad(`${name} must be an object`);
    return v as Record<string, unknown>;
  };
  const bucket = str("bucket");
  if (!bucket) throw bad("bucket is missing");
  const prefix = str("prefix") ?? "";
  const checksum = str("checksumAlgorithm");
  if (checksum !== undefined && !CHECKSUM_ALGORITHMS.includes(checksum as ChecksumAlgorithmName)) {
    throw bad(`unknown checksumAlgorithm ${JSON.stringify(checksum)}`);
  }
  const creds = obj("credentials");
  let credentials: StaticCredentials | undefined;
  if (creds) {
    const accessKeyId = str("accessKeyId", creds);
    const secretAccessKey = str("secretAccessKey", creds);
    if (!accessKeyId || !secretAccessKey) throw bad("credentials need accessKeyId and secretAccessKey");
    const sessionToken = str("sessionToken", creds);
    const expiration = str("expiration", creds);
    credentials = {
      accessKeyId: new Secret(accessKeyId),
      secretAccessKey: new Secret(secretAccessKey),
      ...(sessionToken ? { sessionToken: new Secret(sessionToken) } : {}),
      ...(expiration ? { expiration: new Date(expiration) } : {}),
    };
  }
  const enc = obj("encryption") ?? { mode: "none" };
  let encryption: Encryption;
  switch (str("mode", enc)) {
    case "none":
      encryption = { mode: "none" };
      break;
    case "AES256":
      encryption = { mode: "AES256" };
      break;
    case "aws:kms": {
      const kmsKeyId = str("kmsKeyId", enc);
      encryption = kmsKeyId ? { mode: "aws:kms", kmsKeyId } : { mode: "aws:kms" };
      break;
    }
    case "SSE-C":
      encryption = { mode: "SSE-C", key: customerKeyFromBase64(str("customerKey", enc) ?? "") };
      break;
    default:
      throw bad(`unknown encryption mode ${JSON.stringify(enc.mode)}`);
  }
  const optional = <K extends string>(name: K, value: string | undefined) =>
    (value === undefined ? {} : { [name]: value }) as { [P in K]?: string };
  return {
    bucket,
    prefix,
    ...optional("region", str("region")),
    ...optional("endpoint", str("endpoint")),
    forcePathStyle: bool("forcePathStyle"),
    insecureSkipTlsVerify: bool("insecureSkipTlsVerify"),
    ...optional("caCert", str("caCert")),
    ...optional("profile", str("profile")),
    ...optional("credentialsFile", str("credentialsFile")),
    skipClientCredentials: bool("skipClientCredentials"),
    ...(credentials ? { credentials } : {}),
    encryption,
    ...optional("tagging", str("tagging")),
    ...(checksum ? { checksumAlgorithm: checksum as ChecksumAlgorithmName } : {}),
  };
}
