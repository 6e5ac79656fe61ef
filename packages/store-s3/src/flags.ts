import path from "node:path";
import { VsnapError } from "@vsnap/core";
import { sseAlgorithmOf } from "./s3-url.js";

/** The S3 CLI flags of vCluster's `snapshot create`, as the CLI receives them. */
export interface S3Flags {
  /** `--server-side-encryption AES256|aws:kms` */
  readonly serverSideEncryption?: string | undefined;
  /** `--kms-key-id ID` (implies aws:kms) */
  readonly kmsKeyId?: string | undefined;
  /** `--customer-key-encryption-file PATH` (SSE-C) */
  readonly customerKeyEncryptionFile?: string | undefined;
}

/** How each flag maps onto a URL parameter, for CLIs that add flags generically. */
export const S3_FLAG_PARAMS = {
  serverSideEncryption: { flag: "--server-side-encryption", param: "server-side-encryption", base64: false },
  kmsKeyId: { flag: "--kms-key-id", param: "kms-key-id", base64: true },
  customerKeyEncryptionFile: {
    flag: "--customer-key-encryption-file",
    param: "custom-key-encryption-file",
    base64: true,
  },
} as const;

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const unb64 = (text: string) => Buffer.from(text.replace(/ /g, "+"), "base64").toString("utf8").trim();

/**
 * Folds the encryption flags into an `s3://` URL (or its query). A flag that repeats what the URL
 * already says is fine; a different value, or SSE-KMS together with SSE-C, is an error. The key
 * file's path is made absolute, since the URL outlives the working directory.
 */
export function applyS3Flags(url: string, flags: S3Flags, cwd?: string): string;
export function applyS3Flags(params: URLSearchParams, flags: S3Flags, cwd?: string): URLSearchParams;
export function applyS3Flags(
  urlOrParams: string | URLSearchParams,
  flags: S3Flags,
  cwd = process.cwd(),
): string | URLSearchParams {
  const url = typeof urlOrParams === "string" ? new URL(urlOrParams) : undefined;
  const params = new URLSearchParams(url ? url.search : urlOrParams);
  const conflict = (message: string, hint?: string) =>
    new VsnapError("INVALID_ARGUMENT", message, hint ? { hint } : {});

  const sse = flags.serverSideEncryption?.trim();
  const kms = flags.kmsKeyId?.trim();
  const keyFile = flags.customerKeyEncryptionFile?.trim();
  if (sse !== undefined && sse !== "") {
    const algorithm = sseAlgorithmOf(sse);
    if (!algorithm)
      throw conflict(`--server-side-encryption must be AES256 or aws:kms, got ${JSON.stringify(sse)}`);
    set(params, "server-side-encryption", algorithm, (existing) => sseAlgorithmOf(existing) === algorithm);
  }
  if (kms) set(params, "kms-key-id", b64(kms), (existing) => unb64(existing) === kms);
  if (keyFile) {
    const absolute = path.resolve(cwd, keyFile);
    set(
      params,
      "custom-key-encryption-file",
      b64(absolute),
      (existing) => path.resolve(cwd, unb64(existing)) === absolute,
    );
  }
  if (params.has("kms-key-id") && params.has("custom-key-encryption-file")) {
    throw conflict(
      "you cannot use kms key and encryption file at the same time (--kms-key-id and --customer-key-encryption-file)",
      "choose SSE-KMS or SSE-C",
    );
  }
  const chosenSse = params.get("server-side-encryption");
  if (chosenSse !== null && params.has("custom-key-encryption-file")) {
    throw conflict("--server-side-encryption and --customer-key-encryption-file (SSE-C) exclude each other");
  }
  if (chosenSse !== null && params.has("kms-key-id") && sseAlgorithmOf(chosenSse) === "AES256") {
    throw conflict("--kms-key-id needs aws:kms, not --server-side-encryption AES256");
  }
  if (!url) return params;
  url.search = params.toString();
  return url.href;

  function set(target: URLSearchParams, name: string, value: string, same: (existing: string) => boolean) {
    const existing = target.get(name);
    if (existing !== null && !same(existing)) {
      throw conflict(
        `the flag for ${name} disagrees with the URL's ${name} parameter`,
        "give the setting once: as a flag or in the URL",
      );
    }
    target.set(name, value);
  }
}
