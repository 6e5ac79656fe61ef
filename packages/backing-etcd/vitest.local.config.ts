// TEMPORARY (delete before handing over): core's dist is mid-rewrite
import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.js";

export default defineConfig({
  resolve: { alias: { "@vsnap/core": "/tmp/smoke/coreshim.js" } },
  test: { ...sharedTestConfig("backing-etcd-local"), globalSetup: ["./test/global-setup.ts"] },
});
