import { describeStoreConformance } from "@vsnap/store-testkit";
import { inject } from "vitest";
import { ociStorePlugin } from "../src/index.js";
import { MiB, testEnv, uniqueRepo } from "./helpers.js";

const plain = inject("registryPlain");

// every test gets a fresh repository; keys are tags (the suite's names are valid tags as they are)
describeStoreConformance({
  name: "oci (docker-registry 2.8, plain HTTP)",
  freesTransientChunks: true,
  plugin: ociStorePlugin,
  setup: async () => ({
    url: `oci://${plain.host}/${uniqueRepo("conformance")}`,
    context: { env: testEnv() },
  }),
  makeKey: (name) => name,
  // three chunks of 8 MiB and a closing PUT
  largeObjectBytes: 25 * MiB,
});
