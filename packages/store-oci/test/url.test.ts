import { Secret } from "@vsnap/core";
import { describe, expect, it } from "vitest";
import { chunkPolicyFor, ociStorePlugin } from "../src/index.js";
import { keyDisplay, rootDisplay, usesPlainHttp } from "../src/store.js";
import { b64, errorOf, MiB, parse, testEnv } from "./helpers.js";

describe("oci:// URLs", () => {
  it("splits registry, repository and tag, defaulting the tag to latest", () => {
    const tagged = parse("oci://GHCR.io/my-user/repo:v1.2");
    expect(tagged.options).toMatchObject({ registry: "ghcr.io", repository: "my-user/repo" });
    expect(tagged.key).toBe("v1.2");
  });

  it("rejects repository names the distribution grammar refuses", async () => {
    const error = await errorOf(Promise.resolve().then(() => parse("oci://ghcr.io/My-User/repo:v1")));
    expect(error.code).toBe("INVALID_URL");
    expect(error.message).toContain("not a valid repository name");
  });

  it("takes a tag, a digest or nothing", () => {
    expect(parse("oci://ghcr.io/me/repo:v1.2").key).toBe("v1.2");
    expect(parse("oci://ghcr.io/me/repo").key).toBe("latest");
    const digest = `sha256:${"a".repeat(64)}`;
    expect(parse(`oci://ghcr.io/me/repo@${digest}`).key).toBe(`@${digest}`);
    expect(parse("oci://127.0.0.1:5000/a/b/c:t").options).toMatchObject({
      registry: "127.0.0.1:5000",
      repository: "a/b/c",
    });
  });

  it("maps Docker Hub names the way docker does", () => {
    expect(parse("oci://docker.io/alpine:3").options.repository).toBe("library/alpine");
    expect(parse("oci://docker.io/me/snaps").options.repository).toBe("me/snaps");
  });

  it.each([
    ["oci://ghcr.io", "unexpected format"],
    ["oci://ghcr.io/", "unexpected format"],
    ["oci://ghcr.io/me/repo:bad tag", "not a valid"],
    ["oci://ghcr.io/me/repo@sha256:abc", "not a valid digest"],
    ["oci://ghcr.io/me/repo?nope=1", "unknown parameter"],
    ["oci://ghcr.io/me/repo?username=u", "user name without a password"],
    ["oci://ghcr.io/me/repo?chunk-size=-1", "chunk-size"],
    [`oci://ghcr.io/me/repo?ca-cert=${b64("not a pem")}`, "PEM"],
  ])("rejects %s", async (url, message) => {
    const error = await errorOf(Promise.resolve().then(() => parse(url)));
    expect(error.code).toBe("INVALID_URL");
    expect(error.message).toContain(message);
  });

  it("takes credentials from username/password (base64) or from userinfo, and masks them", () => {
    const fromQuery = parse(
      `oci://ghcr.io/me/repo:t?username=bob&password=${encodeURIComponent(b64("pa ss+/word"))}`,
    );
    expect(fromQuery.options.credentials?.username).toBe("bob");
    expect(fromQuery.options.credentials?.password).toBeInstanceOf(Secret);
    expect(fromQuery.options.credentials?.password?.reveal()).toBe("pa ss+/word");
    expect(fromQuery.display).not.toContain(b64("pa ss+/word"));
    expect(fromQuery.publicUrl).not.toContain("password");

    const fromInfo = parse("oci://bob:s%40cret@ghcr.io/me/repo:t");
    expect(fromInfo.options.credentials?.password?.reveal()).toBe("s@cret");
    expect(fromInfo.display).toBe("oci://bob:***@ghcr.io/me/repo:t");
    expect(JSON.stringify(fromInfo.options)).not.toContain("s@cret");
  });

  it("reads TLS and upload options", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const p = parse(
      `oci://reg.example/me/repo?ca-cert=${b64(pem)}&insecure-skip-tls-verify=true&chunk-size=16`,
    );
    expect(p.options.caCert).toBe(pem.trim());
    expect(p.options.insecureSkipTlsVerify).toBe(true);
    expect(p.options.chunkSize).toBe(16 * MiB);
  });

  it("speaks plain HTTP to loopback hosts only, unless told otherwise", () => {
    expect(usesPlainHttp(parse("oci://127.0.0.1:5000/a").options)).toBe(true);
    expect(usesPlainHttp(parse("oci://localhost:5000/a").options)).toBe(true);
    expect(usesPlainHttp(parse("oci://ghcr.io/a").options)).toBe(false);
    expect(usesPlainHttp(parse("oci://ghcr.io/a?plain-http=true").options)).toBe(true);
    expect(usesPlainHttp(parse("oci://127.0.0.1:5000/a?plain-http=false").options)).toBe(false);
    expect(usesPlainHttp(parse("oci://127.0.0.1:5000/a?insecure-skip-tls-verify=true").options)).toBe(false);
  });

  it("builds display URLs for the root and for each key", () => {
    const root = rootDisplay(parse("oci://bob:pw12@reg.example:5000/me/repo:v1?plain-http=true").display);
    expect(root).toBe("oci://bob:***@reg.example:5000/me/repo?plain-http=true");
    expect(keyDisplay(root, "v2")).toBe("oci://bob:***@reg.example:5000/me/repo:v2?plain-http=true");
    expect(rootDisplay(`oci://r.example/me/repo@sha256:${"b".repeat(64)}`)).toBe("oci://r.example/me/repo");
  });
});

describe("chunk sizes per registry", () => {
  it("stays under GHCR's 4 MiB cap, over ECR's 5 MiB minimum, and follows the URL", () => {
    expect(chunkPolicyFor("ghcr.io")).toEqual({ chunkSize: 4 * MiB, minChunkSize: 0 });
    expect(chunkPolicyFor("123456789012.dkr.ecr.eu-west-1.amazonaws.com").minChunkSize).toBe(5 * MiB);
    expect(chunkPolicyFor("123456789012.dkr.ecr.eu-west-1.amazonaws.com").chunkSize).toBeGreaterThanOrEqual(
      5 * MiB,
    );
    expect(chunkPolicyFor("registry.example").chunkSize).toBe(8 * MiB);
    expect(chunkPolicyFor("registry.example", 0).chunkSize).toBe(0);
  });
});

describe("request options", () => {
  it("carry URL credentials to the controller and back, as JSON", async () => {
    const location = parse(
      `oci://reg.example/me/repo:t?username=bob&password=${b64("hunter22")}&chunk-size=4`,
    );
    const data = await ociStorePlugin.toRequestOptions!(location, { env: testEnv() });
    expect(JSON.parse(JSON.stringify(data))).toEqual({
      registry: "reg.example",
      repository: "me/repo",
      chunkSize: 4 * MiB,
      username: "bob",
      password: "hunter22",
    });
    const options = ociStorePlugin.fromRequestOptions!(data);
    expect(options.credentials?.password?.reveal()).toBe("hunter22");
    expect(options.chunkSize).toBe(4 * MiB);
    expect(String(options.credentials?.password)).toBe("[redacted]");
  });

  it("refuse malformed data", async () => {
    const error = await errorOf(
      Promise.resolve().then(() => ociStorePlugin.fromRequestOptions!({ registry: 1 })),
    );
    expect(error.code).toBe("INVALID_ARGUMENT");
  });
});
