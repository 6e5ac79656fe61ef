import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.js";

export default defineConfig({
  test: {
    ...sharedTestConfig("kube-apiserver-fake"),
    globalSetup: ["./test/global-setup.ts"],
    fileParallelism: false,
  },
});
