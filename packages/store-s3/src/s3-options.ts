import type { Secret } from "@vsnap/core";
import type { ChecksumAlgorithmName } from "./s3-params.js";

/** Static credentials: from the URL, or resolved by the CLI and carried to the cluster in a Secret. */
export interface StaticCredentials {
  readonly accessKeyId: Secret;
  readonly secretAccessKey: Secret;
  readonly sessionToken?: Secret;
  /** When temporary credentials stop working. */
  readonly expiration?: Date;
}

/** How objects are encrypted at rest; SSE-C keys must also be sent to read the object back. */
export type Encryption =
  | { readonly mode: "none" }
  | { readonly mode: "AES256" }
  | { readonly mode: "aws:kms"; readonly kmsKeyId?: string }
  /** SSE-C: the key is read from `keyFile` where the store opens, or carried as `key` (base64). */
  | { readonly mode: "SSE-C"; readonly keyFile?: string; readonly key?: Secret };

/** Everything an `s3://` URL says, decoded and checked. */
export interface S3Options {
  readonly bucket: string;
  /** The store's root inside the bucket: "" or a key prefix ending in "/". */
  readonly prefix: string;
  readonly region?: string;
  /** Custom endpoint (`url` parameter), e.g. http://127.0.0.1:9000. */
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  readonly insecureSkipTlsVerify: boolean;
  /** PEM text of extra trusted CA certificates. */
  readonly caCert?: string;
  readonly profile?: string;
  readonly credentialsFile?: string;
  readonly skipClientCredentials: boolean;
  readonly credentials?: StaticCredentials;
  readonly encryption: Encryption;
  /** URL-encoded tag set, sent only when non-empty (Cloudflare R2 rejects an empty header). */
  readonly tagging?: string;
  readonly checksumAlgorithm?: ChecksumAlgorithmName;
}
