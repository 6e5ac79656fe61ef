import { defineStorePlugin, STORE_API_VERSION } from "@vsnap/core";
import { openS3Store } from "./open.js";
import { fromRequestOptions, toRequestOptions } from "./request-options.js";
import type { S3Options } from "./s3-options.js";
import { S3_FORMAT, S3_PARAMS, S3_SCHEME } from "./s3-params.js";
import { parseS3Url } from "./s3-url.js";

/** `s3://BUCKET/KEY`: snapshots in AWS S3 or any S3-compatible service. */
export const s3StorePlugin = defineStorePlugin<S3Options>({
  apiVersion: STORE_API_VERSION,
  name: "s3",
  schemes: [S3_SCHEME],
  params: S3_PARAMS,
  format: S3_FORMAT,
  parse: parseS3Url,
  open: (location, context) => openS3Store(location, context),
  toRequestOptions,
  fromRequestOptions,
});
