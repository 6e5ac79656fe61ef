import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PluginRegistry } from "@vsnap/core";
import { describe, expect, it } from "vitest";
import defaultExport, { s3StorePlugin } from "../src/index.js";

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

describe("the package as a vsnap plugin", () => {
  it("exports the plugin as default and as s3StorePlugin", () => {
    expect(defaultExport).toBe(s3StorePlugin);
    expect(s3StorePlugin).toMatchObject({
      apiVersion: 1,
      name: "s3",
      schemes: ["s3"],
      format: "s3://BUCKET/KEY",
    });
    expect(typeof s3StorePlugin.toRequestOptions).toBe("function");
    expect(typeof s3StorePlugin.fromRequestOptions).toBe("function");
  });

  it.runIf(existsSync(path.join(packageDir, "dist", "index.js")))(
    "is discovered from its package.json and loaded from its build, as the CLI does",
    async () => {
      const registry = PluginRegistry.discover({ explicit: [packageDir], env: {} });
      expect(registry.problems).toEqual([]);
      expect(registry.manifests().find((m) => m.schemes.includes("s3"))).toMatchObject({
        packageName: "@vsnap/store-s3",
        name: "s3",
        apiVersion: 1,
      });
      const plugin = await registry.plugin("s3");
      expect(plugin.name).toBe("s3");
      expect(plugin.parse).toBeTypeOf("function");
    },
  );
});
