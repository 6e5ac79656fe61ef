import { randomUUID } from "node:crypto";
import { describeStoreConformance } from "@vsnap/store-testkit";
import { openS3Store, s3StorePlugin } from "../src/index.js";
import { adminClient, MiB, newBucket, rgw, s3Url } from "./helpers.js";

const LIST_PAGE = 7;
let bucket: Promise<string> | undefined;

describeStoreConformance({
  name: "s3 (Ceph radosgw)",
  freesTransientChunks: true,
  // The real plugin with S3's part limits; only the list page is shortened, so that paging is
  // exercised with a handful of objects instead of a thousand.
  plugin: {
    ...s3StorePlugin,
    open: (location, context) => openS3Store(location, context, { listPageSize: LIST_PAGE }),
  },
  listPageHint: LIST_PAGE,
  // three parts of S3-sized (8 MiB) parts
  largeObjectBytes: 20 * MiB,
  setup: async () => {
    bucket ??= (async () => {
      const admin = adminClient();
      try {
        return await newBucket(admin, "conformance");
      } finally {
        admin.destroy();
      }
    })();
    const info = rgw();
    // credentials from the environment, so object URLs carry no masked value and parse back;
    // the suite checks that neither key leaks anywhere
    return {
      url: s3Url(await bucket, `${randomUUID()}/`, { credentials: false }),
      secrets: [info.accessKeyId, info.secretAccessKey],
      context: {
        env: {
          AWS_ACCESS_KEY_ID: info.accessKeyId,
          AWS_SECRET_ACCESS_KEY: info.secretAccessKey,
          AWS_EC2_METADATA_DISABLED: "true",
        },
      },
    };
  },
});
