import { readFile } from "node:fs/promises";
import { parseWithPlugin, STORE_API_VERSION, VsnapError } from "@vsnap/core";
import { describe, expect, it } from "vitest";
import plugin, { CONTAINER_FORMAT, containerStorePlugin, containerUrl } from "../src/index.js";

const parse = (url: string) => parseWithPlugin(url, plugin);

function parseError(url: string): VsnapError {
  try {
    parse(url);
  } catch (error) {
    if (VsnapError.is(error)) return error;
    throw error;
  }
  throw new Error(`${url} parsed, but should not have`);
}

describe("container URLs", () => {
  it("splits an absolute path into root directory and key", () => {
    const location = parse("container:///data/snapshots/snap-1.tar.gz");
    expect(location).toMatchObject({
      scheme: "container",
      plugin: "container",
      key: "snap-1.tar.gz",
      options: { root: "/data/snapshots" },
      display: "container:///data/snapshots/snap-1.tar.gz",
      publicUrl: "container:///data/snapshots/snap-1.tar.gz",
    });
  });

  it("percent-decodes the path", () => {
    const location = parse("container:///data/my%20snaps/a%23b%3Fc%C3%BC.tar.gz");
    expect(location.options).toEqual({ root: "/data/my snaps" });
    expect(location.key).toBe("a#b?cü.tar.gz");
  });

  it("normalises dot segments, also encoded ones", () => {
    expect(parse("container:///data/../etc/x.tar.gz").options).toEqual({ root: "/etc" });
    const encoded = parse("container:///data/a%2F..%2Fb.tar.gz");
    expect(encoded.options).toEqual({ root: "/data" });
    expect(encoded.key).toBe("b.tar.gz");
  });

  it("reads a path ending in / as the directory itself (for listing)", () => {
    const location = parse("container:///data/snapshots/");
    expect(location.key).toBe("");
    expect(location.options).toEqual({ root: "/data/snapshots" });
  });

  it("rejects a relative path (a host part) with the expected format", () => {
    const error = parseError("container://data/x.tar.gz");
    expect(error.code).toBe("INVALID_URL");
    expect(error.message).toContain(
      "relative paths are not supported for container snapshots; use container:///ABSOLUTE/PATH",
    );
    expect(error.hint).toContain(CONTAINER_FORMAT);
  });

  it.each([
    ["container:///", "absolute file path"],
    ["container://", "absolute file path"],
    ["container:///data/x%00.tar.gz", "NUL"],
    ["container:///data/x%E0%A4%A.tar.gz", "percent-encoding"],
    ["container:///data/x#y.tar.gz", "%23"],
  ])("rejects %s", (url, reason) => {
    const error = parseError(url);
    expect(error.code).toBe("INVALID_URL");
    expect(error.message).toContain(reason);
  });

  it("takes no query options: core rejects them before the plugin sees the URL", () => {
    const error = parseError("container:///data/x.tar.gz?region=eu");
    expect(error.code).toBe("INVALID_URL");
    expect(error.message).toContain('unknown parameter "region"');
    expect(error.hint).toBe("this scheme takes no parameters");
  });

  it("builds object URLs that parse back to the same root and key", () => {
    for (const name of [
      "plain.tar.gz",
      "with space.tar.gz",
      "odd#?%&=+.tar.gz",
      "ünï.tar.gz",
      "a:b@c.tar.gz",
    ]) {
      const url = containerUrl(`/data/sub dir/${name}`);
      const location = parse(url);
      expect({ key: location.key, root: location.options.root }, url).toEqual({
        key: name,
        root: "/data/sub dir",
      });
    }
    expect(containerUrl("/data/snapshots", true)).toBe("container:///data/snapshots/");
    expect(containerUrl("/", true)).toBe("container:///");
  });
});

describe("the plugin and its package", () => {
  it("declares the contract fields, with the default export the named one", () => {
    expect(plugin).toBe(containerStorePlugin);
    expect(plugin).toMatchObject({
      apiVersion: STORE_API_VERSION,
      name: "container",
      schemes: ["container"],
      params: {},
      format: "container:///ABS/PATH/FILE.tar.gz",
    });
  });

  it("announces itself in package.json so discovery never has to import it", async () => {
    const manifest = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8")) as {
      name: string;
      keywords: string[];
      vsnap: unknown;
      peerDependencies: Record<string, string>;
    };
    expect(manifest.name).toBe("@vsnap/store-container");
    expect(manifest.keywords).toContain("vsnap-store");
    expect(manifest.vsnap).toEqual({
      apiVersion: 1,
      kind: "store",
      name: "container",
      schemes: ["container"],
    });
    expect(Object.keys(manifest.peerDependencies)).toContain("@vsnap/core");
  });
});
