import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { resolveCredentials } from "../src/index.js";
import { b64, errorOf, parse, testEnv, writeCredentialHelper, writeDockerConfig } from "./helpers.js";

const options = (url: string) => parse(url).options;

describe("registry credentials from docker's config", () => {
  it("asks credHelpers[registry] first, then credsStore, then the inline auths entry", async () => {
    const special = writeCredentialHelper("special", {
      "reg.example:5000": { username: "helper-user", secret: "helper-pass" },
    });
    const store = writeCredentialHelper("store", {
      "other.example": { username: "store-user", secret: "store-pass" },
    });
    const dockerConfig = writeDockerConfig({
      credHelpers: { "reg.example:5000": "special" },
      credsStore: "store",
      auths: {
        "reg.example:5000": { auth: b64("inline-user:inline-pass") },
        "https://third.example/v1/": { auth: b64("third:pa:ss") },
      },
    });
    const env = testEnv({
      DOCKER_CONFIG: dockerConfig,
      PATH: `${special.binDir}:${store.binDir}:${process.env.PATH}`,
    });

    const viaHelper = await resolveCredentials(options("oci://reg.example:5000/a/b"), { env });
    expect(viaHelper?.username).toBe("helper-user");
    expect(viaHelper?.password?.reveal()).toBe("helper-pass");
    expect(special.calls()).toEqual(["get reg.example:5000"]);

    const viaStore = await resolveCredentials(options("oci://other.example/a"), { env });
    expect(viaStore?.username).toBe("store-user");
    expect(store.calls()).toEqual(["get other.example"]);

    // the store has nothing for third.example: the inline entry (any key spelling) answers, password with a colon intact
    const inline = await resolveCredentials(options("oci://third.example/a"), { env });
    expect(inline?.username).toBe("third");
    expect(inline?.password?.reveal()).toBe("pa:ss");
    expect(JSON.stringify(inline)).not.toContain("pa:ss");
  });

  it("uses Docker Hub's https://index.docker.io/v1/ key for docker.io", async () => {
    const hub = writeCredentialHelper("hub", {
      "https://index.docker.io/v1/": { username: "hubber", secret: "hubpass" },
    });
    const env = testEnv({
      DOCKER_CONFIG: writeDockerConfig({ credsStore: "hub" }),
      PATH: `${hub.binDir}:${process.env.PATH}`,
    });
    const creds = await resolveCredentials(options("oci://docker.io/me/snaps"), { env });
    expect(creds?.username).toBe("hubber");
    expect(hub.calls()).toEqual(["get https://index.docker.io/v1/"]);
  });

  it("treats a helper's <token> user and an identitytoken entry as OAuth2 refresh tokens", async () => {
    const acr = writeCredentialHelper("acr", {
      "me.azurecr.io": { username: "<token>", secret: "refresh-me" },
    });
    const env = testEnv({
      DOCKER_CONFIG: writeDockerConfig({
        credHelpers: { "me.azurecr.io": "acr" },
        auths: { "id.example": { auth: b64("someone:"), identitytoken: "idtok-123" } },
      }),
      PATH: `${acr.binDir}:${process.env.PATH}`,
    });
    const fromHelper = await resolveCredentials(options("oci://me.azurecr.io/a"), { env });
    expect(fromHelper?.identityToken?.reveal()).toBe("refresh-me");
    expect(fromHelper?.password).toBeUndefined();
    const inline = await resolveCredentials(options("oci://id.example/a"), { env });
    expect(inline?.identityToken?.reveal()).toBe("idtok-123");
  });

  it("prefers URL credentials, and skip-client-credentials ignores the config", async () => {
    const helper = writeCredentialHelper("never", {});
    const env = testEnv({
      DOCKER_CONFIG: writeDockerConfig({
        credsStore: "never",
        auths: { "reg.example": { auth: b64("cfg:cfg") } },
      }),
      PATH: `${helper.binDir}:${process.env.PATH}`,
    });
    const fromUrl = await resolveCredentials(
      options(`oci://reg.example/a?username=url&password=${b64("urlpw")}`),
      { env },
    );
    expect(fromUrl?.username).toBe("url");
    expect(
      await resolveCredentials(options("oci://reg.example/a?skip-client-credentials=true"), { env }),
    ).toBeUndefined();
    expect(helper.calls()).toEqual([]);
  });

  it("reads ~/.docker/config.json when DOCKER_CONFIG is not set", async () => {
    const home = writeDockerConfig({});
    mkdirSync(`${home}/.docker`);
    writeFileSync(
      `${home}/.docker/config.json`,
      JSON.stringify({ auths: { "reg.example": { auth: b64("homer:doh") } } }),
    );
    renameSync(`${home}/config.json`, `${home}/unused.json`);
    const creds = await resolveCredentials(options("oci://reg.example/a"), { env: testEnv({ HOME: home }) });
    expect(creds?.username).toBe("homer");
  });

  it("reports a missing helper executable and a broken config clearly", async () => {
    const missing = testEnv({ DOCKER_CONFIG: writeDockerConfig({ credsStore: "nonexistent-vsnap" }) });
    const error = await errorOf(resolveCredentials(options("oci://reg.example/a"), { env: missing }));
    expect(error.code).toBe("UNAUTHENTICATED");
    expect(error.message).toContain("docker-credential-nonexistent-vsnap is not on PATH");
    expect(error.hint).toContain("skip-client-credentials=true");

    const broken = writeDockerConfig({});
    writeFileSync(`${broken}/config.json`, "{ not json");
    const parseError = await errorOf(
      resolveCredentials(options("oci://reg.example/a"), { env: testEnv({ DOCKER_CONFIG: broken }) }),
    );
    expect(parseError.code).toBe("INVALID_ARGUMENT");
  });

  it("is anonymous when nothing matches", async () => {
    const env = testEnv({
      DOCKER_CONFIG: writeDockerConfig({ auths: { "elsewhere.example": { auth: b64("a:b") } } }),
    });
    expect(await resolveCredentials(options("oci://reg.example/a"), { env })).toBeUndefined();
  });
});
