import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.js";

// One radosgw for the whole run (about 13 s to start); each test file works in its own buckets.
export default defineConfig({
  test: { ...sharedTestConfig("store-s3"), globalSetup: ["./test/global-setup.ts"] },
});
