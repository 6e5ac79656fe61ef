import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import {
  defineStorePlugin,
  PluginRegistry,
  parseWithPlugin,
  redact,
  Secret,
  schemeOf,
  VsnapError,
} from "../src/index.js";

// A plugin with one option of every kind, to test what core does before any plugin code runs.
const demoPlugin = defineStorePlugin<{ host: string; path: string; params: Record<string, unknown> }>({
  apiVersion: 1,
  name: "demo",
  schemes: ["demo"],
  format: "demo://HOST/PATH",
  params: {
    token: { type: "base64", secret: true, description: "secret token" },
    label: { type: "base64", description: "a base64 label" },
    region: { type: "string", description: "region" },
    fast: { type: "boolean", description: "a flag" },
    parts: { type: "integer", description: "a number" },
    mode: { type: "enum", values: ["a", "b"], description: "an enum" },
  },
  parse({ url, params }) {
    if (!url.hostname) throw new VsnapError("INVALID_URL", "host missing, expected demo://HOST/PATH");
    return { key: url.pathname.slice(1), options: { host: url.hostname, path: url.pathname, params } };
  },
  async open() {
    throw new Error("not needed");
  },
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("URL grammar in core", () => {
  it("decodes every option type", () => {
    const loc = parseWithPlugin(
      `demo://h/p?label=${b64("héllo")}&region=eu-1&fast=true&parts=12&mode=b`,
      demoPlugin,
    );
    expect(loc.options.params).toEqual({ label: "héllo", region: "eu-1", fast: true, parts: 12, mode: "b" });
    expect(loc.key).toBe("p");
    expect(loc.plugin).toBe("demo");
  });

  it("restores a '+' that the shell or URL turned into a space in base64", () => {
    const value = "\u00fb\u00ef\u00be"; // base64 of its UTF-8 contains '+'
    const encoded = b64(value);
    expect(encoded).toContain("+");
    const loc = parseWithPlugin(`demo://h/p?label=${encoded}`, demoPlugin); // raw '+' decodes to ' ' in a query
    expect(loc.options.params.label).toBe(value);
  });

  it("rejects an unknown parameter, naming it and listing the valid ones", () => {
    const error = captureError(() => parseWithPlugin("demo://h/p?regoin=x", demoPlugin));
    expect(error.code).toBe("INVALID_URL");
    expect(error.message).toContain('"regoin"');
    expect(error.message).toContain("demo://HOST/PATH");
    expect(error.hint).toContain("fast, label, mode, parts, region, token");
  });

  it.each([
    ["fast=yes", "true or false"],
    ["parts=1.5", "an integer"],
    ["mode=c", "one of a, b"],
    ["label=@@@", "standard base64"],
  ])("rejects a malformed value (%s)", (query, expected) => {
    const error = captureError(() => parseWithPlugin(`demo://h/p?${query}`, demoPlugin));
    expect(error.code).toBe("INVALID_URL");
    expect(error.message).toContain(expected);
  });

  it("rejects a repeated parameter", () => {
    expect(captureError(() => parseWithPlugin("demo://h/p?region=a&region=b", demoPlugin)).message).toContain(
      "more than once",
    );
  });

  it("wraps secrets and masks them in the display form; drops them from the public form", () => {
    const token = randomBytes(12).toString("hex");
    const loc = parseWithPlugin(`demo://user:pw-${token}@h/p?token=${b64(token)}&region=r`, demoPlugin);
    expect(loc.options.params.token).toBeInstanceOf(Secret);
    expect((loc.options.params.token as Secret).reveal()).toBe(token);
    expect(loc.display).toBe("demo://user:***@h/p?token=***&region=r");
    expect(loc.publicUrl).toBe("demo://h/p?region=r");
    for (const text of [
      loc.display,
      loc.publicUrl,
      JSON.stringify(loc),
      inspect(loc, { depth: 10 }),
      String(loc.options.params.token),
    ]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(b64(token));
    }
  });

  it("never shows a secret value in an error about it", () => {
    const secret = `${randomBytes(8).toString("hex")}!!`; // not base64
    const error = captureError(() => parseWithPlugin(`demo://h/p?token=${secret}`, demoPlugin));
    expect(error.message).toContain('"token" must be standard base64');
    expect(error.message).not.toContain(secret);
  });

  it("says what a snapshot URL looks like when the scheme is missing", () => {
    const error = captureError(() => schemeOf("/data/snap.tar.gz"));
    expect(error.code).toBe("INVALID_URL");
    expect(error.hint).toContain("container:///data/snap.tar.gz");
  });

  it("dispatches through the registry and names the package to install for a first-party scheme", async () => {
    const registry = PluginRegistry.of(demoPlugin);
    expect((await registry.parse("demo://h/x")).key).toBe("x");
    const error = await registry.parse("s3://bucket/key").catch((e: unknown) => e);
    expect(VsnapError.is(error, "UNSUPPORTED")).toBe(true);
    expect((error as VsnapError).message).toBe("no store plugin handles s3://");
    expect((error as VsnapError).hint).toContain("install @vsnap/store-s3");
    const unknown = await registry.parse("gs://bucket/key").catch((e: unknown) => e);
    expect((unknown as VsnapError).hint).toContain("vsnap-store-<x>");
    expect((unknown as VsnapError).hint).toContain("demo://");
  });
});

describe("redaction", () => {
  it("scrubs registered secrets from error messages, hints, stacks and causes", () => {
    const secret = new Secret(`tok-${randomBytes(10).toString("hex")}`);
    const cause = new Error(`upstream said: bad key ${secret.reveal()}`);
    const error = new VsnapError("UNAUTHENTICATED", `login failed for ${secret.reveal()}`, {
      cause,
      hint: `check ${Buffer.from(secret.reveal()).toString("base64")}`,
    });
    for (const text of [
      error.message,
      error.hint ?? "",
      error.stack ?? "",
      String((error.cause as Error).message),
      inspect(error, { depth: 5 }),
    ]) {
      expect(text).not.toContain(secret.reveal());
      expect(text).not.toContain(Buffer.from(secret.reveal()).toString("base64"));
    }
    expect(error.message).toBe("login failed for ***");
    expect(redact(`x ${encodeURIComponent(secret.reveal())} y`)).toBe("x *** y");
  });

  it("prints a Secret as [redacted] in every form", () => {
    const s = new Secret("hunter2-very-secret");
    expect(`${s}`).toBe("[redacted]");
    expect(JSON.stringify({ s })).toBe('{"s":"[redacted]"}');
    expect(inspect({ s })).toBe("{ s: [redacted] }");
  });

  it("recognises a VsnapError from another copy of core by its global marker", () => {
    const foreign = Object.assign(new Error("x"), {
      code: "NOT_FOUND",
      [Symbol.for("vsnap.dev/error")]: true,
    });
    expect(VsnapError.is(foreign, "NOT_FOUND")).toBe(true);
    expect(VsnapError.is(new Error("y"))).toBe(false);
  });
});

function captureError(fn: () => unknown): VsnapError {
  try {
    fn();
  } catch (error) {
    if (VsnapError.is(error)) return error;
    throw error;
  }
  throw new Error("expected an error");
}
