import { readFileSync } from "node:fs";
import { startRgw } from "@vsnap/test-servers/rgw";
import type { TestProject } from "vitest/node";

export interface RgwInfo {
  readonly endpoint: string;
  readonly httpsEndpoint: string;
  /** PEM of the CA that signed the HTTPS endpoint's certificate. */
  readonly caPem: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly kmsKeyId: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    rgw: RgwInfo;
  }
}

/** Starts the real S3 server (Ceph radosgw: 1 mon, 1 memstore OSD, rgw with HTTP and HTTPS) once per run. */
export default async function setup(project: TestProject) {
  // For quick iterations: reuse a server that is already running (same settings as below).
  const reuse = process.env.VSNAP_TEST_RGW_INFO;
  if (reuse) {
    project.provide("rgw", JSON.parse(readFileSync(reuse, "utf8")) as RgwInfo);
    return;
  }
  // Parts down to 1 MiB (S3: 5 MiB) let tests exercise multipart with a few MiB; tests with S3's own
  // limits still run and would see EntityTooSmall for a short part in the middle.
  const rgw = await startRgw({
    tls: true,
    memstoreBytes: 1024 ** 3,
    rgwConfig: { "rgw multipart min part size": String(1024 * 1024) },
  });
  if (!rgw.httpsEndpoint || !rgw.tls) throw new Error("radosgw started without its HTTPS endpoint");
  project.provide("rgw", {
    endpoint: rgw.endpoint,
    httpsEndpoint: rgw.httpsEndpoint,
    caPem: rgw.tls.ca.toString("utf8"),
    region: rgw.region,
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    kmsKeyId: rgw.kmsKeyId,
  });
  return async () => {
    await rgw.close();
  };
}
