import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { discoverPlugins, PluginRegistry, VsnapError } from "../src/index.js";

const root = mkdtempSync(path.join(os.tmpdir(), "vsnap-registry-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Writes a real ESM plugin package: package.json with the `vsnap` field and a module exporting the plugin. */
function writePlugin(
  dir: string,
  name: string,
  schemes: string[],
  options: { apiVersion?: number; runtimeSchemes?: string[]; broken?: boolean } = {},
) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({
      name,
      version: "1.2.3",
      type: "module",
      exports: { ".": { import: "./index.js" } },
      vsnap: { apiVersion: options.apiVersion ?? 1, kind: "store", name, schemes },
    }),
  );
  const body = options.broken
    ? "throw new Error('boom at import');"
    : `export default { apiVersion: ${options.apiVersion ?? 1}, name: ${JSON.stringify(name)}, schemes: ${JSON.stringify(
        options.runtimeSchemes ?? schemes,
      )}, params: {}, format: "x://", parse: ({ url }) => ({ key: url.pathname.slice(1), options: {} }), open: async () => ({}) };
globalThis.__loaded = [...(globalThis.__loaded ?? []), ${JSON.stringify(name)}];`;
  writeFileSync(path.join(dir, "index.js"), body);
}

function project(name: string, deps: Record<string, string>): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, dependencies: deps }));
  return dir;
}

describe("plugin discovery", () => {
  it("finds declared project dependencies without importing them, and imports only the one used", async () => {
    const dir = project("proj-a", { "vsnap-store-gs": "^1", "@acme/vsnap-store-blob": "^1", lodash: "^4" });
    writePlugin(path.join(dir, "node_modules/vsnap-store-gs"), "vsnap-store-gs", ["gs"]);
    writePlugin(path.join(dir, "node_modules/@acme/vsnap-store-blob"), "@acme/vsnap-store-blob", ["blob"]);
    mkdirSync(path.join(dir, "node_modules/lodash"), { recursive: true });
    writeFileSync(path.join(dir, "node_modules/lodash/package.json"), JSON.stringify({ name: "lodash" }));
    (globalThis as { __loaded?: string[] }).__loaded = [];
    const registry = PluginRegistry.discover({ cwd: path.join(dir), env: {} });
    expect(registry.manifests().map((m) => [m.packageName, m.schemes, m.source])).toEqual([
      ["vsnap-store-gs", ["gs"], "project"],
      ["@acme/vsnap-store-blob", ["blob"], "project"],
    ]);
    expect((globalThis as { __loaded?: string[] }).__loaded).toEqual([]);
    const location = await registry.parse("gs://bucket/obj");
    expect(location.key).toBe("obj");
    expect((globalThis as { __loaded?: string[] }).__loaded).toEqual(["vsnap-store-gs"]);
  });

  it("finds plugins in VSNAP_PLUGIN_DIR and beside the host package", () => {
    const pluginDir = path.join(root, "plugin-dir");
    writePlugin(path.join(pluginDir, "node_modules/@vsnap/store-zz"), "@vsnap/store-zz", ["zz"]);
    const globalModules = path.join(root, "global/lib/node_modules");
    writePlugin(path.join(globalModules, "@vsnap/store-yy"), "@vsnap/store-yy", ["yy"]);
    const host = path.join(globalModules, "@vsnap/cli");
    mkdirSync(path.join(host, "dist"), { recursive: true });
    writeFileSync(path.join(host, "package.json"), JSON.stringify({ name: "@vsnap/cli" }));
    const { manifests, problems } = discoverPlugins({
      cwd: root,
      env: { VSNAP_PLUGIN_DIR: pluginDir },
      hostUrl: pathToFileURL(path.join(host, "dist/bin.js")).href,
    });
    expect(problems).toEqual([]);
    expect(manifests.map((m) => [m.packageName, m.source])).toEqual([
      ["@vsnap/store-zz", "plugin-dir"],
      ["@vsnap/store-yy", "beside-cli"],
    ]);
  });

  it("reports two plugins claiming one scheme, and lets an explicit choice settle it", async () => {
    const dir = project("proj-b", { "vsnap-store-one": "1", "vsnap-store-two": "1" });
    writePlugin(path.join(dir, "node_modules/vsnap-store-one"), "vsnap-store-one", ["dup"]);
    writePlugin(path.join(dir, "node_modules/vsnap-store-two"), "vsnap-store-two", ["dup"]);
    const error = await PluginRegistry.discover({ cwd: dir, env: {} })
      .parse("dup://x/y")
      .catch((e: unknown) => e);
    expect(VsnapError.is(error, "PLUGIN")).toBe(true);
    expect((error as Error).message).toMatch(/dup:\/\/ is claimed by vsnap-store-one .* and vsnap-store-two/);
    const chosen = PluginRegistry.discover({ cwd: dir, env: { VSNAP_PLUGINS: "vsnap-store-two" } });
    expect((await chosen.plugin("dup")).name).toBe("vsnap-store-two");
  });

  it("rejects a wrong apiVersion, a manifest/runtime mismatch and a package that fails to load, naming the package", async () => {
    const dir = project("proj-c", {
      "vsnap-store-v2": "1",
      "vsnap-store-liar": "1",
      "vsnap-store-broken": "1",
    });
    writePlugin(path.join(dir, "node_modules/vsnap-store-v2"), "vsnap-store-v2", ["v2"], { apiVersion: 2 });
    writePlugin(path.join(dir, "node_modules/vsnap-store-liar"), "vsnap-store-liar", ["liar"], {
      runtimeSchemes: ["other"],
    });
    writePlugin(path.join(dir, "node_modules/vsnap-store-broken"), "vsnap-store-broken", ["broken"], {
      broken: true,
    });
    const registry = PluginRegistry.discover({ cwd: dir, env: {} });
    const messages = await Promise.all(
      ["v2", "liar", "broken"].map((s) =>
        registry.plugin(s).then(
          () => "loaded",
          (e: Error) => `${(e as VsnapError).code}: ${e.message}`,
        ),
      ),
    );
    expect(messages[0]).toMatch(
      /^PLUGIN: store plugin vsnap-store-v2@1.2.3 declares store API version 2; this vsnap supports 1/,
    );
    expect(messages[1]).toMatch(
      /^PLUGIN: store plugin vsnap-store-liar@1.2.3 .* declares schemes \[liar\] in package.json but serves \[other\]/,
    );
    expect(messages[2]).toMatch(
      /^PLUGIN: failed to load store plugin vsnap-store-broken@1.2.3 .*boom at import/,
    );
  });

  it("reports an explicit --plugin that is missing or not a plugin", () => {
    const notPlugin = path.join(root, "not-a-plugin");
    mkdirSync(notPlugin, { recursive: true });
    writeFileSync(path.join(notPlugin, "package.json"), JSON.stringify({ name: "not-a-plugin" }));
    const { problems } = discoverPlugins({
      cwd: root,
      env: {},
      explicit: ["vsnap-store-nowhere", notPlugin],
    });
    expect(problems[0]).toContain('plugin "vsnap-store-nowhere" was not found');
    expect(problems[1]).toContain("is not a vsnap store plugin");
  });
});
