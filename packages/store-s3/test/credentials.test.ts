import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { parseWithPlugin, VsnapError } from "@vsnap/core";
import { startS3FaultProxy } from "@vsnap/test-servers/s3-fault-proxy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromRequestOptions, openS3Store, s3StorePlugin, toRequestOptions } from "../src/index.js";
import { adminClient, b64, collect, newBucket, openStore, randomBody, rgw, s3Url } from "./helpers.js";

let admin: S3Client;
let bucket: string;
let dir: string;
/** An environment with no credentials anywhere (no ~/.aws, no instance metadata). */
let bareEnv: Record<string, string>;

beforeAll(async () => {
  admin = adminClient();
  bucket = await newBucket(admin, "creds");
  dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-s3-creds-"));
  bareEnv = { HOME: dir, AWS_EC2_METADATA_DISABLED: "true" };
  await openStore(s3Url(bucket, "seed/")).then(async ({ store }) => {
    await store.put("a.tar.gz", randomBody(10).body);
    await store.close();
  });
});
afterAll(() => {
  admin.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const noCredsUrl = (key = "seed/", params: Record<string, string> = {}) =>
  s3Url(bucket, key, { credentials: false, params });

async function statWith(url: string, env: Record<string, string>) {
  const { store, logs } = await openStore(url, { env });
  try {
    return { info: await store.stat("a.tar.gz"), logs, region: store.region };
  } finally {
    await store.close();
  }
}

describe("where credentials come from", () => {
  it("environment keys of the context, without touching process.env", async () => {
    const before = { ...process.env };
    const env = {
      ...bareEnv,
      AWS_ACCESS_KEY_ID: rgw().accessKeyId,
      AWS_SECRET_ACCESS_KEY: rgw().secretAccessKey,
    };
    expect((await statWith(noCredsUrl(), env)).info?.size).toBe(10);
    expect(process.env).toEqual(before);
  });

  it("URL credentials win over the environment's", async () => {
    const env = {
      ...bareEnv,
      AWS_ACCESS_KEY_ID: "WRONGWRONGWRONG",
      AWS_SECRET_ACCESS_KEY: "wrong-secret-wrong",
    };
    expect((await statWith(s3Url(bucket, "seed/"), env)).info?.size).toBe(10);
  });

  it("a credentials file named in the URL, and a profile in it", async () => {
    const file = path.join(dir, "credentials");
    writeFileSync(
      file,
      `[default]\naws_access_key_id = ${rgw().accessKeyId}\naws_secret_access_key = ${rgw().secretAccessKey}\n` +
        `[backup]\naws_access_key_id = ${rgw().accessKeyId}\naws_secret_access_key = ${rgw().secretAccessKey}\nregion = ${rgw().region}\n`,
    );
    expect((await statWith(noCredsUrl("seed/", { "credentials-file": b64(file) }), bareEnv)).info?.size).toBe(
      10,
    );
    const withProfile = await statWith(
      s3Url(bucket, "seed/", {
        credentials: false,
        region: null,
        params: { "credentials-file": b64(file), profile: "backup" },
      }),
      bareEnv,
    );
    expect(withProfile.info?.size).toBe(10);
    expect(withProfile.region).toBe(rgw().region); // from the profile, not discovered
    const missing = await statWith(
      noCredsUrl("seed/", { "credentials-file": b64(file), profile: "nope" }),
      bareEnv,
    ).catch((e: unknown) => e);
    expect(VsnapError.is(missing, "UNAUTHENTICATED")).toBe(true);
    expect((missing as Error).message).toContain('profile "nope"');
  });

  it("the shared files and AWS_PROFILE of the environment", async () => {
    const credentials = path.join(dir, "shared-credentials");
    const config = path.join(dir, "shared-config");
    writeFileSync(
      credentials,
      `[ops]\naws_access_key_id = ${rgw().accessKeyId}\naws_secret_access_key = ${rgw().secretAccessKey}\n`,
    );
    writeFileSync(config, "[profile ops]\nregion = eu-central-9\n");
    const env = {
      ...bareEnv,
      AWS_SHARED_CREDENTIALS_FILE: credentials,
      AWS_CONFIG_FILE: config,
      AWS_PROFILE: "ops",
    };
    // radosgw accepts any region in the signature; the profile's region is what gets used
    const result = await statWith(s3Url(bucket, "seed/", { credentials: false, region: null }), env);
    expect(result.info?.size).toBe(10);
    expect(result.region).toBe("eu-central-9");
  });

  it("container credentials (ECS / EKS pod identity) from a loopback endpoint", async () => {
    const seen: (string | undefined)[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          AccessKeyId: rgw().accessKeyId,
          SecretAccessKey: rgw().secretAccessKey,
          Token: "",
          Expiration: new Date(Date.now() + 3600_000).toISOString(),
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const env = {
        ...bareEnv,
        AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${port}/creds`,
        AWS_CONTAINER_AUTHORIZATION_TOKEN: "pod-identity-token",
      };
      expect((await statWith(noCredsUrl(), env)).info?.size).toBe(10);
      expect(seen[0]).toBe("pod-identity-token");
    } finally {
      server.close();
    }
  });

  it("passes a session token on every request", async () => {
    const proxy = await startS3FaultProxy(rgw().endpoint);
    try {
      const url = s3Url(bucket, "seed/", {
        endpoint: proxy.endpoint,
        params: { "session-token": b64("session-token-that-rgw-does-not-know") },
      });
      const { store } = await openStore(url);
      // radosgw without STS ignores the token; what matters is that it is sent
      await store.stat("a.tar.gz").catch((e: unknown) => e);
      await store.close();
      expect(proxy.requests.length).toBeGreaterThan(0);
      expect(proxy.requests.every((r) => r.headers.includes("x-amz-security-token"))).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});

describe("credential errors", () => {
  it("a wrong secret or an unknown key id is UNAUTHENTICATED, and no message shows a credential", async () => {
    const wrongSecret = "wrong-secret-value-123456";
    const cases = [
      { id: rgw().accessKeyId, secret: wrongSecret },
      { id: "VSNAPNOSUCHKEY000001", secret: rgw().secretAccessKey },
    ];
    for (const { id, secret } of cases) {
      const url = s3Url(bucket, "seed/", {
        credentials: false,
        params: { "access-key-id": b64(id), "secret-access-key": b64(secret) },
      });
      const { store } = await openStore(url);
      for (const op of [() => store.stat("a.tar.gz"), () => collect(store.list())]) {
        const error = await op().catch((e: unknown) => e);
        expect(VsnapError.is(error, "UNAUTHENTICATED")).toBe(true);
        const text = `${(error as Error).message} ${(error as VsnapError).hint} ${(error as Error).stack}`;
        for (const s of [id, secret, rgw().secretAccessKey, b64(secret)]) expect(text).not.toContain(s);
      }
      await store.close();
    }
  });

  it("no credentials anywhere: UNAUTHENTICATED naming the sources tried", async () => {
    const { store } = await openStore(noCredsUrl(), { env: bareEnv });
    const error = await store.stat("a.tar.gz").catch((e: unknown) => e);
    expect(VsnapError.is(error, "UNAUTHENTICATED")).toBe(true);
    expect((error as VsnapError).hint).toMatch(/environment variables.*profile/s);
    await store.close();
  });
});

describe("handing a request to the cluster", () => {
  it("resolves local credentials into the request's options, never into its URL", async () => {
    const env = {
      ...bareEnv,
      AWS_ACCESS_KEY_ID: rgw().accessKeyId,
      AWS_SECRET_ACCESS_KEY: rgw().secretAccessKey,
    };
    const location = parseWithPlugin(noCredsUrl("seed/a.tar.gz"), s3StorePlugin);
    const data = await toRequestOptions(location, { env });
    expect(data.credentials).toEqual({
      accessKeyId: rgw().accessKeyId,
      secretAccessKey: rgw().secretAccessKey,
    });
    expect(location.publicUrl).not.toContain(rgw().accessKeyId);
    // the controller rebuilds the options from the Secret's JSON and reads with them, no env needed
    const options = fromRequestOptions(JSON.parse(JSON.stringify(data)));
    expect(String(options.credentials?.secretAccessKey)).toBe("[redacted]");
    const store = await openS3Store({ ...location, options }, { env: bareEnv });
    expect((await store.stat("a.tar.gz"))?.size).toBe(10);
    await store.close();
  });

  it("URL credentials travel in the options; the public URL and display hide them", async () => {
    const location = parseWithPlugin(s3Url(bucket, "seed/a.tar.gz"), s3StorePlugin);
    const data = await toRequestOptions(location, { env: bareEnv });
    expect((data.credentials as { secretAccessKey: string }).secretAccessKey).toBe(rgw().secretAccessKey);
    for (const text of [location.publicUrl, location.display, JSON.stringify(location)]) {
      expect(text).not.toContain(b64(rgw().secretAccessKey));
      expect(text).not.toContain(rgw().secretAccessKey);
    }
  });

  it("skip-client-credentials sends nothing local; a missing local chain is only a note", async () => {
    const env = {
      ...bareEnv,
      AWS_ACCESS_KEY_ID: rgw().accessKeyId,
      AWS_SECRET_ACCESS_KEY: rgw().secretAccessKey,
    };
    const skip = parseWithPlugin(
      noCredsUrl("seed/a.tar.gz", { "skip-client-credentials": "true", profile: "irsa" }),
      s3StorePlugin,
    );
    const data = await toRequestOptions(skip, { env });
    expect(data.credentials).toBeUndefined();
    expect(data.profile).toBe("irsa");

    const logs: string[] = [];
    const none = parseWithPlugin(noCredsUrl("seed/a.tar.gz"), s3StorePlugin);
    const bare = await toRequestOptions(none, { env: bareEnv, log: (m) => logs.push(m) });
    expect(bare.credentials).toBeUndefined();
    expect(logs.join("\n")).toMatch(/no local AWS credentials.*skip-client-credentials/s);
  });

  it("rejects malformed request options", () => {
    expect(() => fromRequestOptions({ version: 99, bucket: "b" })).toThrow(/unsupported version/);
    expect(() => fromRequestOptions({ version: 1 })).toThrow(/bucket is missing/);
    expect(() =>
      fromRequestOptions({
        version: 1,
        bucket: "b",
        encryption: { mode: "SSE-C", customerKey: "short" },
      }),
    ).toThrow(/32 bytes/);
  });
});

describe("region", () => {
  it("comes from AWS_REGION when the URL has none", async () => {
    const env = { ...bareEnv, AWS_REGION: "ap-south-7" };
    expect((await statWith(s3Url(bucket, "seed/", { region: null }), env)).region).toBe("ap-south-7");
  });

  it("falls back to us-east-1 on an endpoint that names no region, and says so", async () => {
    const result = await statWith(s3Url(bucket, "seed/", { region: null }), bareEnv);
    expect(result.region).toBe("us-east-1");
    expect(result.info?.size).toBe(10);
    expect(result.logs.join("\n")).toMatch(/did not name the bucket's region; using us-east-1/);
  });

  it("on AWS, a region that cannot be determined is a clear error", async () => {
    // no endpoint, no region: the bucket is asked (s3.amazonaws.com), which is unreachable here or
    // does not know this bucket: either way no region header comes back
    const url = s3Url(`vsnap-no-such-bucket-${Date.now()}`, "k.tar.gz", { endpoint: null, region: null });
    const error = await openStore(url, { env: bareEnv }).catch((e: unknown) => e);
    expect(VsnapError.is(error, "INVALID_ARGUMENT")).toBe(true);
    expect((error as Error).message).toMatch(/unable to determine the region of bucket/);
    expect((error as VsnapError).hint).toMatch(/region=/);
  });
});
