import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.js";

export default defineConfig({
  test: {
    ...sharedTestConfig("store-oci"),
    globalSetup: ["./test/global-setup.ts"],
    // the tests wait on registries far more than they compute: two files at a time even on 2 cores,
    // in reused workers (no test file keeps global state)
    maxWorkers: 2,
    isolate: false,
  },
});
