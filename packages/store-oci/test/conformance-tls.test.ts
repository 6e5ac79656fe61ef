import { describeStoreConformance } from "@vsnap/store-testkit";
import { inject } from "vitest";
import { ociStorePlugin } from "../src/index.js";
import { b64, MiB, testEnv, uniqueRepo } from "./helpers.js";

const tls = inject("registryTls");
const credentials = `username=${tls.username}&password=${encodeURIComponent(b64(tls.password!))}`;

describeStoreConformance({
  name: "oci (docker-registry 2.8, TLS with a test CA + htpasswd Basic auth)",
  freesTransientChunks: true,
  plugin: ociStorePlugin,
  setup: async () => ({
    url: `oci://${tls.host}/${uniqueRepo("conformance-tls")}?ca-cert=${encodeURIComponent(b64(tls.caPem!))}&${credentials}`,
    secrets: [tls.password!],
    context: { env: testEnv() },
  }),
  makeKey: (name) => name,
  // one 8 MiB chunk and a closing PUT (the plain-HTTP run covers several chunks)
  largeObjectBytes: 9 * MiB,
});
