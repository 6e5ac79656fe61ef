import { readFile } from "node:fs/promises";
import { Secret, VsnapError } from "@vsnap/core";
import type { Encryption } from "./s3-options.js";

export const SSE_C_KEY_BYTES = 32;

/** Request fields shared by PutObject, CreateMultipartUpload, UploadPart, GetObject and HeadObject. */
export interface SseCustomerFields {
  SSECustomerAlgorithm?: string;
  SSECustomerKey?: string;
  SSECustomerKeyMD5?: string;
}

export interface SseWriteFields extends SseCustomerFields {
  ServerSideEncryption?: "AES256" | "aws:kms";
  SSEKMSKeyId?: string;
}

/** Encryption with an SSE-C key loaded: what a store needs for every request. */
export interface ResolvedEncryption {
  readonly mode: Encryption["mode"];
  /** Fields for PutObject and CreateMultipartUpload. */
  readonly write: SseWriteFields;
  /** Fields for UploadPart, GetObject and HeadObject (SSE-C needs the key on every access). */
  readonly access: SseCustomerFields;
  /** The SSE-C key, base64, for handing to the cluster. */
  readonly customerKey?: Secret;
}

/**
 * Reads an SSE-C key file: exactly 32 bytes, or the base64 of 32 bytes (what `openssl rand -base64 32`
 * writes). vCluster silently takes the first 32 bytes of a longer file; a wrong-length file is an error here.
 */
export async function readCustomerKeyFile(file: string): Promise<Secret> {
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new VsnapError(
      "INVALID_ARGUMENT",
      code === "ENOENT"
        ? `provided key encryption file does not exist: ${file}`
        : `cannot read key encryption file ${file}: ${(error as Error).message}`,
      {
        cause: error,
        hint: "create one with `openssl rand 32 > sse-c.key`; in the cluster the CLI sends the key itself",
      },
    );
  }
  if (content.length === SSE_C_KEY_BYTES) return new Secret(content.toString("base64"));
  const text = content.toString("latin1").trim();
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text) && Buffer.from(text, "base64").length === SSE_C_KEY_BYTES) {
    return new Secret(Buffer.from(text, "base64").toString("base64"));
  }
  throw new VsnapError(
    "INVALID_ARGUMENT",
    `contents of ${file} are not exactly ${SSE_C_KEY_BYTES} bytes (found ${content.length}), nor the base64 of ${SSE_C_KEY_BYTES} bytes`,
    { hint: "an SSE-C key is 32 random bytes: `openssl rand 32 > sse-c.key`" },
  );
}

/** Checks a base64 SSE-C key carried in a request (it never went through a file). */
export function customerKeyFromBase64(value: string): Secret {
  const key = Buffer.from(value, "base64");
  if (key.length !== SSE_C_KEY_BYTES || key.toString("base64") !== value) {
    throw new VsnapError("INVALID_ARGUMENT", `the SSE-C key must be the base64 of ${SSE_C_KEY_BYTES} bytes`);
  }
  return new Secret(value);
}

export async function resolveEncryption(encryption: Encryption): Promise<ResolvedEncryption> {
  switch (encryption.mode) {
    case "none":
      return { mode: "none", write: {}, access: {} };
    case "AES256":
      return { mode: "AES256", write: { ServerSideEncryption: "AES256" }, access: {} };
    case "aws:kms":
      return {
        mode: "aws:kms",
        write: {
          ServerSideEncryption: "aws:kms",
          ...(encryption.kmsKeyId ? { SSEKMSKeyId: encryption.kmsKeyId } : {}),
        },
        access: {},
      };
    case "SSE-C": {
      const customerKey = encryption.key ?? (await readCustomerKeyFile(encryption.keyFile ?? ""));
      // The SDK's SSE-C middleware adds the key's MD5 header itself.
      const access: SseCustomerFields = {
        SSECustomerAlgorithm: "AES256",
        SSECustomerKey: customerKey.reveal(),
      };
      return { mode: "SSE-C", write: access, access, customerKey };
    }
  }
}
