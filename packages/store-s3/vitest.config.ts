import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.js";

// One radosgw for the whole run (about 10 s to start); each test file works in its own buckets.
// The tests mostly wait on the server and on aws CLI processes, so three files run at once.
export default defineConfig({
  test: { ...sharedTestConfig("store-s3"), globalSetup: ["./test/global-setup.ts"], maxWorkers: 3 },
});
