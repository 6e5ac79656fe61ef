import { parseWithPlugin, VsnapError } from "@vsnap/core";
import { describe, expect, it } from "vitest";
import { applyS3Flags, S3_PARAMS, s3StorePlugin } from "../src/index.js";

const b64 = (text: string) => Buffer.from(text).toString("base64");
const parse = (url: string) => parseWithPlugin(url, s3StorePlugin);
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return VsnapError.is(error) ? error.code : "not a VsnapError";
  }
  return "no error";
};

describe("s3:// URLs", () => {
  it("splits BUCKET/DIR/KEY into bucket, store root and key", () => {
    const loc = parse("s3://my-bucket/backups/daily/snap-1.tar.gz");
    expect(loc.key).toBe("snap-1.tar.gz");
    expect(loc.options).toMatchObject({ bucket: "my-bucket", prefix: "backups/daily/" });
    expect(parse("s3://my-bucket/snap.tar.gz").options.prefix).toBe("");
    // the seed's examples have keys without .tar.gz
    expect(parse("s3://my-s3-bucket/my-bucket-key").key).toBe("my-bucket-key");
    // a trailing slash names the directory itself
    expect(parse("s3://my-bucket/backups/")).toMatchObject({ key: "", options: { prefix: "backups/" } });
    expect(parse("s3://my-bucket/a%20b/c%23d.tar.gz")).toMatchObject({
      key: "c#d.tar.gz",
      options: { prefix: "a b/" },
    });
  });

  it("decodes every option of the seed and of vCluster", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const loc = parse(
      `s3://b/k.tar.gz?${new URLSearchParams({
        "access-key-id": b64("AKIAEXAMPLEKEYID"),
        "secret-access-key": b64("secret/with+chars="),
        "session-token": b64("session-token-value"),
        region: "eu-west-1",
        profile: "backup",
        "skip-client-credentials": "true",
        url: b64("https://minio.example.com:9000/"),
        "public-url": b64("https://public.example.com"),
        "force-path-style": "true",
        "insecure-skip-tls-verify": "false",
        "ca-cert": b64(pem),
        tagging: b64("team=infra&env=prod"),
        "checksum-algorithm": "CRC32C",
        "credentials-file": b64("/etc/aws/credentials"),
      }).toString()}`,
    );
    const o = loc.options;
    expect(o.credentials?.accessKeyId.reveal()).toBe("AKIAEXAMPLEKEYID");
    expect(o.credentials?.secretAccessKey.reveal()).toBe("secret/with+chars=");
    expect(o.credentials?.sessionToken?.reveal()).toBe("session-token-value");
    expect(o).toMatchObject({
      region: "eu-west-1",
      profile: "backup",
      skipClientCredentials: true,
      endpoint: "https://minio.example.com:9000",
      forcePathStyle: true,
      insecureSkipTlsVerify: false,
      caCert: pem.trim(),
      tagging: "team=infra&env=prod",
      checksumAlgorithm: "CRC32C",
      credentialsFile: "/etc/aws/credentials",
      encryption: { mode: "none" },
    });
  });

  it("masks credentials in the display form and drops them from the public form", () => {
    const url = `s3://b/dir/k.tar.gz?access-key-id=${b64("AKIAEXAMPLEKEYID")}&secret-access-key=${b64("very-secret-key")}&session-token=${b64("very-secret-token")}&region=us-east-2`;
    const loc = parse(url);
    expect(loc.display).toBe(
      "s3://b/dir/k.tar.gz?access-key-id=***&secret-access-key=***&session-token=***&region=us-east-2",
    );
    expect(loc.publicUrl).toBe("s3://b/dir/k.tar.gz?region=us-east-2");
    expect(JSON.stringify(loc.options)).not.toContain("very-secret");
    // every credential parameter is declared secret, so core masks it everywhere
    for (const name of ["access-key-id", "secret-access-key", "session-token"])
      expect(S3_PARAMS[name]?.secret).toBe(true);
  });

  it("takes server-side-encryption plain (seed docs) or base64 (vCluster URLs)", () => {
    expect(parse("s3://b/k?server-side-encryption=AES256").options.encryption).toEqual({ mode: "AES256" });
    expect(parse("s3://b/k?server-side-encryption=aws:kms").options.encryption).toEqual({ mode: "aws:kms" });
    expect(parse(`s3://b/k?server-side-encryption=${b64("aws:kms")}`).options.encryption).toEqual({
      mode: "aws:kms",
    });
    expect(parse(`s3://b/k?kms-key-id=${b64("alias/backups")}`).options.encryption).toEqual({
      mode: "aws:kms",
      kmsKeyId: "alias/backups",
    });
    expect(parse(`s3://b/k?custom-key-encryption-file=${b64("/keys/sse-c")}`).options.encryption).toEqual({
      mode: "SSE-C",
      keyFile: "/keys/sse-c",
    });
    expect(codeOf(() => parse("s3://b/k?server-side-encryption=DES"))).toBe("INVALID_URL");
  });

  it("rejects conflicting encryption choices", () => {
    const kms = `kms-key-id=${b64("key-1")}`;
    const ssec = `custom-key-encryption-file=${b64("/k")}`;
    expect(() => parse(`s3://b/k?${kms}&${ssec}`)).toThrow(/kms key and encryption file at the same time/);
    expect(codeOf(() => parse(`s3://b/k?server-side-encryption=AES256&${ssec}`))).toBe("INVALID_URL");
    expect(codeOf(() => parse(`s3://b/k?server-side-encryption=AES256&${kms}`))).toBe("INVALID_URL");
    expect(parse(`s3://b/k?server-side-encryption=aws:kms&${kms}`).options.encryption.mode).toBe("aws:kms");
  });

  it("rejects what it cannot use, with the URL format in the hint", () => {
    const cases = [
      "s3:///key",
      "s3://user:pass@bucket/key",
      "s3://bucket:9000/key",
      "s3://bucket/key#frag",
      "s3://bucket/key?unknown=1",
      `s3://bucket/key?url=${b64("ftp://x")}`,
      `s3://bucket/key?access-key-id=${b64("only-the-id")}`,
      `s3://bucket/key?session-token=${b64("alone")}`,
      `s3://bucket/key?ca-cert=${b64("not a pem")}`,
      "s3://bucket/key?checksum-algorithm=MD5",
      "s3://bucket/key?region=EU%20West",
      "s3://bucket/key?force-path-style=maybe",
    ];
    for (const url of cases) expect([url, codeOf(() => parse(url))]).toEqual([url, "INVALID_URL"]);
    const error = (() => {
      try {
        parse("s3:///key");
      } catch (e) {
        return e as VsnapError;
      }
    })();
    expect(error?.message).toContain("bucket name is missing");
    expect(error?.hint).toContain("s3://BUCKET/KEY");
  });

  it("sends tags percent-encoded, and no tagging header for an empty value", () => {
    expect(parse(`s3://b/k?tagging=${b64("a=1 2&b=x/y")}`).options.tagging).toBe("a=1%202&b=x%2Fy");
    expect(parse(`s3://b/k?tagging=${b64(" ")}`).options.tagging).toBeUndefined();
  });
});

describe("applyS3Flags", () => {
  it("maps the seed's CLI flags onto URL parameters", () => {
    const out = applyS3Flags("s3://b/k.tar.gz?region=eu-west-1", {
      serverSideEncryption: "aws:kms",
      kmsKeyId: "12345678-1234-1234-1234-123456789012",
    });
    const loc = parse(out);
    expect(loc.options.encryption).toEqual({
      mode: "aws:kms",
      kmsKeyId: "12345678-1234-1234-1234-123456789012",
    });
    expect(loc.options.region).toBe("eu-west-1");
    expect(parse(applyS3Flags("s3://b/k", { serverSideEncryption: "AES256" })).options.encryption).toEqual({
      mode: "AES256",
    });
  });

  it("makes the SSE-C key file path absolute and works on a bare query too", () => {
    const params = applyS3Flags(
      new URLSearchParams("region=x"),
      { customerKeyEncryptionFile: "keys/k" },
      "/home/me",
    );
    expect(Buffer.from(params.get("custom-key-encryption-file") ?? "", "base64").toString()).toBe(
      "/home/me/keys/k",
    );
    expect(params.get("region")).toBe("x");
  });

  it("rejects KMS with SSE-C, an unknown algorithm, and flags that contradict the URL", () => {
    const err = (fn: () => unknown) => codeOf(fn);
    expect(err(() => applyS3Flags("s3://b/k", { kmsKeyId: "k", customerKeyEncryptionFile: "/f" }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(
      err(() => applyS3Flags(`s3://b/k?kms-key-id=${b64("k")}`, { customerKeyEncryptionFile: "/f" })),
    ).toBe("INVALID_ARGUMENT");
    expect(err(() => applyS3Flags("s3://b/k", { serverSideEncryption: "rot13" }))).toBe("INVALID_ARGUMENT");
    expect(
      err(() => applyS3Flags("s3://b/k?server-side-encryption=AES256", { serverSideEncryption: "aws:kms" })),
    ).toBe("INVALID_ARGUMENT");
    expect(err(() => applyS3Flags("s3://b/k", { serverSideEncryption: "AES256", kmsKeyId: "k" }))).toBe(
      "INVALID_ARGUMENT",
    );
    // repeating what the URL says is fine
    expect(applyS3Flags(`s3://b/k?kms-key-id=${b64("k")}`, { kmsKeyId: "k" })).toContain("kms-key-id=");
  });
});
