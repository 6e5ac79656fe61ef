import type { S3Client } from "@aws-sdk/client-s3";
import { VsnapError } from "@vsnap/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminClient, b64, newBucket, openStore, randomBody, rgw, s3Url, sha256Of } from "./helpers.js";

let admin: S3Client;
let bucket: string;

beforeAll(async () => {
  admin = adminClient();
  bucket = await newBucket(admin, "endpoint");
});
afterAll(() => admin.destroy());

describe("TLS endpoints", () => {
  const https = () => rgw().httpsEndpoint;

  it("trusts the endpoint's CA given as ca-cert", async () => {
    const { store } = await openStore(
      s3Url(bucket, "tls/", { endpoint: https(), params: { "ca-cert": b64(rgw().caPem) } }),
    );
    const data = randomBody(3000);
    await store.put("a.tar.gz", data.body);
    expect((await sha256Of((await store.get("a.tar.gz")).body)).hex).toBe(data.digest());
    await store.close();
  });

  it("without the CA, fails UNAVAILABLE and points at ca-cert", async () => {
    const { store } = await openStore(s3Url(bucket, "tls/", { endpoint: https() }), {}, { maxAttempts: 1 });
    const error = await store.stat("a.tar.gz").catch((e: unknown) => e);
    expect(VsnapError.is(error, "UNAVAILABLE")).toBe(true);
    expect((error as Error).message).toMatch(/TLS verification/);
    expect((error as VsnapError).hint).toMatch(/ca-cert/);
    await store.close();
  });

  it("insecure-skip-tls-verify=true connects without verifying", async () => {
    const { store } = await openStore(
      s3Url(bucket, "tls/", { endpoint: https(), params: { "insecure-skip-tls-verify": "true" } }),
    );
    await store.put("b.tar.gz", randomBody(10).body);
    expect((await store.stat("b.tar.gz"))?.size).toBe(10);
    await store.close();
  });
});

describe("addressing", () => {
  const localhost = () => rgw().endpoint.replace("127.0.0.1", "localhost");

  it("force-path-style=true reaches a host where BUCKET.HOST does not resolve", async () => {
    const { store } = await openStore(s3Url(bucket, "path/", { endpoint: localhost() }));
    await store.put("a.tar.gz", randomBody(10).body);
    expect((await store.stat("a.tar.gz"))?.size).toBe(10);
    await store.close();
  });

  it("virtual-hosted style (the default) asks for BUCKET.localhost instead, and fails", async () => {
    const url = s3Url(bucket, "path/", { endpoint: localhost() }).replace(
      "force-path-style=true",
      "force-path-style=false",
    );
    const { store } = await openStore(url, {}, { maxAttempts: 1 });
    const error = await store.stat("a.tar.gz").catch((e: unknown) => e);
    expect(VsnapError.is(error)).toBe(true);
    // where *.localhost does not resolve (glibc without systemd-resolved, as here) the hint says what to do
    if ((error as VsnapError).code === "UNAVAILABLE")
      expect((error as VsnapError).hint).toMatch(/force-path-style=true/);
    await store.close();
  });

  it("an endpoint nobody listens on is UNAVAILABLE", async () => {
    const { store } = await openStore(
      s3Url(bucket, "x/", { endpoint: "http://127.0.0.1:9" }),
      {},
      { maxAttempts: 1 },
    );
    const error = await store.stat("a.tar.gz").catch((e: unknown) => e);
    expect(VsnapError.is(error, "UNAVAILABLE")).toBe(true);
    await store.close();
  });
});
