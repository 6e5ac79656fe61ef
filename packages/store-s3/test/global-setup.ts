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
  const rgw = await startRgw({ tls: true, memstoreBytes: 1024 ** 3 });
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
