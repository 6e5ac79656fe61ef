import { readFileSync } from "node:fs";
import path from "node:path";

/** Where a plugin package was found; earlier sources win when the same package is found twice. */
export type PluginSource = "explicit" | "plugin-dir" | "project" | "beside-cli" | "builtin";

/** What discovery knows of a plugin without importing it: its package.json `vsnap` field. */
export interface PluginManifest {
  readonly packageName: string;
  readonly version: string;
  /** The plugin's name as declared (`vsnap.name`), e.g. "s3". */
  readonly name: string;
  readonly schemes: readonly string[];
  readonly apiVersion: number;
  /** The package directory. */
  readonly dir: string;
  readonly source: PluginSource;
}

/** Package names that may hold a store plugin: @vsnap/store-x, vsnap-store-x, @org/vsnap-store-x. */
export const PLUGIN_NAME_PATTERN =
  /^(?:@vsnap\/store-[a-z0-9][\w.-]*|vsnap-store-[a-z0-9][\w.-]*|@[\w.-]+\/vsnap-store-[a-z0-9][\w.-]*)$/;

export function isPluginPackageName(name: string): boolean {
  return PLUGIN_NAME_PATTERN.test(name) && name !== "@vsnap/store-testkit";
}

interface PackageJson {
  name?: unknown;
  version?: unknown;
  vsnap?: { apiVersion?: unknown; kind?: unknown; name?: unknown; schemes?: unknown };
}

/**
 * Reads `dir/package.json` and returns its manifest when it declares a store plugin,
 * `undefined` when it is not a plugin, or an error string when it claims to be one but is malformed.
 */
export function readPluginManifest(dir: string, source: PluginSource): PluginManifest | string | undefined {
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as PackageJson;
  } catch (error) {
    return `cannot read ${path.join(dir, "package.json")}: ${(error as Error).message}`;
  }
  const field = pkg.vsnap;
  if (field?.kind !== "store") return undefined;
  const name = typeof pkg.name === "string" ? pkg.name : path.basename(dir);
  const schemes = Array.isArray(field.schemes)
    ? field.schemes.filter((s): s is string => typeof s === "string")
    : [];
  if (schemes.length === 0 || typeof field.apiVersion !== "number") {
    return `${name} (${dir}) has a "vsnap" field without "apiVersion" (number) and "schemes" (non-empty array)`;
  }
  return {
    packageName: name,
    version: typeof pkg.version === "string" ? pkg.version : "0.0.0",
    name: typeof field.name === "string" ? field.name : name,
    schemes: schemes.map((s) => s.toLowerCase()),
    apiVersion: field.apiVersion,
    dir,
    source,
  };
}
