import { type RegistryServer, startRegistry } from "@vsnap/test-servers/registry";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { ociStorePlugin } from "../src/index.js";
import {
  b64,
  collect,
  errorOf,
  MiB,
  openStore,
  parse,
  payload,
  readAll,
  testEnv,
  uniqueRepo,
  writeCredentialHelper,
  writeDockerConfig,
} from "./helpers.js";

const tls = inject("registryTls");
const ca = `ca-cert=${encodeURIComponent(b64(tls.caPem!))}`;
const user = tls.username!;
const pass = tls.password!;

describe("Basic auth behind TLS with the test's own CA", () => {
  it("pushes, lists and pulls with username/password parameters", async () => {
    const repo = uniqueRepo("basic");
    const store = await openStore(
      `oci://${tls.host}/${repo}?${ca}&username=${user}&password=${encodeURIComponent(b64(pass))}`,
    );
    try {
      const data = payload(10 * MiB + 1);
      await store.put("v1", data.chunks());
      expect((await collect(store.list())).map((i) => i.key)).toEqual(["v1"]);
      expect((await readAll((await store.get("v1")).body)).equals(data.bytes)).toBe(true);
      expect(store.location).not.toContain(b64(pass));
    } finally {
      await store.close();
    }
  });

  it("takes user:password@ userinfo", async () => {
    const store = await openStore(
      `oci://${user}:${encodeURIComponent(pass)}@${tls.host}/${uniqueRepo("userinfo")}?${ca}`,
    );
    try {
      await store.put("v1", payload(100).chunks());
      expect(store.location).toContain(`${user}:***@`);
    } finally {
      await store.close();
    }
  });

  it("refuses wrong and missing credentials with UNAUTHENTICATED, never echoing the password", async () => {
    const wrong = "definitely-wrong-pw";
    const bad = await openStore(
      `oci://${tls.host}/${uniqueRepo("wrong")}?${ca}&username=${user}&password=${b64(wrong)}`,
    );
    const anonymous = await openStore(`oci://${tls.host}/${uniqueRepo("anon")}?${ca}`);
    try {
      const error = await errorOf(bad.put("v1", payload(10).chunks()));
      expect(error.code).toBe("UNAUTHENTICATED");
      expect(error.message).toContain(`rejected the credentials of user "${user}"`);
      expect(`${error.message} ${error.hint} ${error.stack}`).not.toContain(wrong);
      const none = await errorOf(anonymous.stat("v1"));
      expect(none.code).toBe("UNAUTHENTICATED");
      expect(none.hint).toContain(`docker login ${tls.host}`);
    } finally {
      await Promise.all([bad.close(), anonymous.close()]);
    }
  });

  it("does not trust the registry's certificate without ca-cert, unless told to skip verification", async () => {
    const untrusted = await openStore(
      `oci://${tls.host}/${uniqueRepo("tls")}?username=${user}&password=${b64(pass)}&plain-http=false`,
    );
    const skipping = await openStore(
      `oci://${tls.host}/${uniqueRepo("tls")}?username=${user}&password=${b64(pass)}&insecure-skip-tls-verify=true`,
    );
    try {
      const error = await errorOf(untrusted.stat("v1"));
      expect(error.code).toBe("UNAVAILABLE");
      expect(error.hint).toContain("ca-cert");
      expect(await skipping.stat("v1")).toBeUndefined();
    } finally {
      await Promise.all([untrusted.close(), skipping.close()]);
    }
  });

  it("uses docker config credentials: inline auths and a real credential helper; skip-client-credentials ignores them", async () => {
    const inline = writeDockerConfig({ auths: { [tls.host]: { auth: b64(`${user}:${pass}`) } } });
    const helper = writeCredentialHelper("vsnaptest", { [tls.host]: { username: user, secret: pass } });
    const viaHelper = writeDockerConfig({ credHelpers: { [tls.host]: "vsnaptest" } });
    const repo = uniqueRepo("dockercfg");
    const url = `oci://${tls.host}/${repo}?${ca}`;
    const inlineStore = await openStore(url, { env: testEnv({ DOCKER_CONFIG: inline }) });
    const helperEnv = testEnv({ DOCKER_CONFIG: viaHelper, PATH: `${helper.binDir}:${process.env.PATH}` });
    const helperStore = await openStore(url, { env: helperEnv });
    const skipping = await openStore(`${url}&skip-client-credentials=true`, { env: helperEnv });
    try {
      await inlineStore.put("from-inline", payload(10).chunks());
      await helperStore.put("from-helper", payload(10).chunks());
      expect(helper.calls()).toEqual([`get ${tls.host}`]);
      expect((await collect(helperStore.list())).map((i) => i.key)).toEqual(["from-helper", "from-inline"]);
      expect((await errorOf(skipping.stat("from-helper"))).code).toBe("UNAUTHENTICATED");
      expect(helper.calls()).toHaveLength(1);
    } finally {
      await Promise.all([inlineStore.close(), helperStore.close(), skipping.close()]);
    }
  });

  it("resolves helper credentials on the client so the controller needs no docker config", async () => {
    const helper = writeCredentialHelper("client", { [tls.host]: { username: user, secret: pass } });
    const clientEnv = testEnv({
      DOCKER_CONFIG: writeDockerConfig({ credsStore: "client" }),
      PATH: `${helper.binDir}:${process.env.PATH}`,
    });
    const location = parse(`oci://${tls.host}/${uniqueRepo("controller")}:v1?${ca}`);
    const data = await ociStorePlugin.toRequestOptions!(location, { env: clientEnv });
    expect(data).toMatchObject({ username: user, password: pass, caCert: tls.caPem!.trim() });
    // the controller: options from the Secret, an environment without any docker config or helper
    const options = ociStorePlugin.fromRequestOptions!(JSON.parse(JSON.stringify(data)));
    const store = await ociStorePlugin.open({ ...location, options }, { env: testEnv() });
    try {
      const info = await store.put(location.key, payload(1000).chunks());
      expect(info.key).toBe("v1");
    } finally {
      await store.close();
    }
  });
});

describe("token auth (distribution auth.token with a token server)", () => {
  let registry: RegistryServer;
  let shortLived: RegistryServer;
  beforeAll(async () => {
    [registry, shortLived] = await Promise.all([
      startRegistry({ auth: "token", token: { refreshTokens: { "refresh-abc": "vsnap" } } }),
      // tokens the registry stops accepting about 2 s after issue, though clients are told 300 s
      startRegistry({ auth: "token", token: { expiresIn: 300, jwtExpiresIn: -58 } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([registry?.close(), shortLived?.close()]);
  });

  const creds = (r: RegistryServer) =>
    `username=${r.username}&password=${encodeURIComponent(b64(r.password!))}`;

  it("pushes, pulls, lists and deletes with bearer tokens for the scopes each call needs", async () => {
    const repo = uniqueRepo("token");
    const store = await openStore(`oci://${registry.host}/${repo}?${creds(registry)}`);
    try {
      const data = payload(9 * MiB);
      await store.put("v1", data.chunks());
      expect((await readAll((await store.get("v1")).body)).equals(data.bytes)).toBe(true);
      expect((await collect(store.list())).map((i) => i.key)).toEqual(["v1"]);
      await store.delete("v1");
      expect(await store.stat("v1")).toBeUndefined();
      const scopes = registry.tokenServer!.requests.flatMap((r) => r.scopes);
      expect(scopes).toContain(`repository:${repo}:pull,push`);
      expect(scopes.some((s) => s === `repository:${repo}:delete`)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("refuses anonymous pushes and wrong passwords with UNAUTHENTICATED", async () => {
    const anonymous = await openStore(`oci://${registry.host}/${uniqueRepo("anon")}`);
    const wrong = await openStore(
      `oci://${registry.host}/${uniqueRepo("wrong")}?username=vsnap&password=${b64("nope-nope")}`,
    );
    try {
      const none = await errorOf(anonymous.put("v1", payload(10).chunks()));
      expect(none.code).toBe("UNAUTHENTICATED");
      expect(none.message).toContain("requires credentials");
      const bad = await errorOf(wrong.put("v1", payload(10).chunks()));
      expect(bad.code).toBe("UNAUTHENTICATED");
      expect(bad.message).toContain("token request");
    } finally {
      await Promise.all([anonymous.close(), wrong.close()]);
    }
  });

  it("trades a docker identity token for access tokens (OAuth2 refresh_token grant)", async () => {
    const env = testEnv({
      DOCKER_CONFIG: writeDockerConfig({ auths: { [registry.host]: { identitytoken: "refresh-abc" } } }),
    });
    const store = await openStore(`oci://${registry.host}/${uniqueRepo("identity")}`, { env });
    try {
      const before = registry.tokenServer!.requests.length;
      await store.put("v1", payload(100).chunks());
      const requests = registry.tokenServer!.requests.slice(before);
      expect(requests.length).toBeGreaterThan(0);
      expect(
        requests.every((r) => r.method === "POST" && r.grantType === "refresh_token" && r.user === "vsnap"),
      ).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("fetches a new token when the registry refuses a cached one", async () => {
    const store = await openStore(`oci://${shortLived.host}/${uniqueRepo("refresh")}?${creds(shortLived)}`);
    try {
      await store.put("v1", payload(100).chunks());
      const fetched = store.client.auth.tokensFetched;
      await new Promise((r) => setTimeout(r, 2_500));
      // the cached token is past its JWT expiry: the registry answers 401 and the client must refresh
      expect((await store.stat("v1"))?.key).toBe("v1");
      expect(store.client.auth.tokensFetched).toBeGreaterThan(fetched);
    } finally {
      await store.close();
    }
  });

  it("renews a token before its expires_in runs out", async () => {
    // the registry honours each token for a minute of real time, whatever the client's clock says
    const quick = await startRegistry({ auth: "token", token: { expiresIn: 2, jwtExpiresIn: 60 } });
    const store = await openStore(`oci://${quick.host}/${uniqueRepo("expiry")}?${creds(quick)}`);
    // Only the clock is fake, and it stands still: with real time, a put slowed by a loaded machine
    // would already be past the renewal point when the first stat runs.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      await store.put("v1", payload(100).chunks());
      const granted = quick.tokenServer!.requests.length;
      // a 2 s token is renewed once half of it is gone
      vi.setSystemTime(Date.now() + 900);
      await store.stat("v1");
      expect(quick.tokenServer!.requests.length, "renewed too early").toBe(granted);
      vi.setSystemTime(Date.now() + 200);
      await store.stat("v1");
      expect(quick.tokenServer!.requests.length, "not renewed after half its lifetime").toBe(granted + 1);
    } finally {
      vi.useRealTimers();
      await store.close();
      await quick.close();
    }
  });
});
