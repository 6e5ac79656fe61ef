import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { VsnapError } from "../errors.js";
import { STORE_API_VERSION, type StorePlugin } from "../store.js";
import type { PluginManifest } from "./manifest.js";

/** Imports one plugin package (only when its scheme is used) and checks it matches its manifest. */
export async function loadPlugin(manifest: PluginManifest): Promise<StorePlugin> {
  const where = `${manifest.packageName}@${manifest.version} (${manifest.dir})`;
  const entry = packageEntry(manifest.dir);
  if (!entry) {
    throw new VsnapError("PLUGIN", `store plugin ${where} has no loadable entry point`, {
      hint: 'its package.json needs "exports": {".": "./dist/index.js"} (or "main"), and the package must be built',
    });
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
  } catch (error) {
    throw new VsnapError("PLUGIN", `failed to load store plugin ${where}: ${(error as Error).message}`, {
      cause: error,
      hint: `reinstall ${manifest.packageName}, or remove it if it is not needed`,
    });
  }
  const plugin = (mod.default ?? mod.plugin) as Partial<StorePlugin> | undefined;
  const problem = checkPlugin(plugin, manifest);
  if (problem) throw new VsnapError("PLUGIN", `store plugin ${where} ${problem}`);
  return plugin as StorePlugin;
}

function checkPlugin(plugin: Partial<StorePlugin> | undefined, manifest: PluginManifest): string | undefined {
  if (!plugin || typeof plugin !== "object") return "does not export a plugin object (default export)";
  if (plugin.apiVersion !== STORE_API_VERSION) {
    return `implements store API version ${String(plugin.apiVersion)}, this vsnap supports ${STORE_API_VERSION}`;
  }
  if (typeof plugin.parse !== "function" || typeof plugin.open !== "function")
    return "lacks parse() or open()";
  const declared = [...manifest.schemes].sort().join(",");
  const actual = [...(plugin.schemes ?? [])]
    .map((s) => s.toLowerCase())
    .sort()
    .join(",");
  if (declared !== actual) return `declares schemes [${declared}] in package.json but serves [${actual}]`;
  return undefined;
}

type Exports = string | { [condition: string]: Exports } | null | undefined;

/** The file `import(pkg)` would load: exports "." with the import/node/default conditions, else main. */
export function packageEntry(dir: string): string | undefined {
  const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
    exports?: Exports;
    main?: string;
  };
  let target: Exports = pkg.exports;
  if (target && typeof target === "object" && "." in target) target = target["."];
  for (let depth = 0; target && typeof target === "object" && depth < 5; depth++) {
    const conditions: Record<string, Exports> = target;
    const key = ["import", "node", "default"].find((c) => c in conditions);
    target = key ? conditions[key] : undefined;
  }
  const relative = typeof target === "string" ? target : (pkg.main ?? "index.js");
  const file = path.resolve(dir, relative);
  return existsSync(file) ? file : undefined;
}
