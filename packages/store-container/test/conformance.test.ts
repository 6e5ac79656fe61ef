import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describeStoreConformance } from "@vsnap/store-testkit";
import plugin, { containerUrl } from "../src/index.js";

describeStoreConformance({
  name: "container",
  freesTransientChunks: true,
  plugin,
  setup: async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "vsnap-conformance-"));
    // a root that does not exist yet: the first put has to create it
    return {
      url: containerUrl(path.join(dir, "snapshots", "conformance.tar.gz")),
      teardown: () => rm(dir, { recursive: true, force: true }),
    };
  },
});
