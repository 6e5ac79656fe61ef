import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  isPluginPackageName,
  type PluginManifest,
  type PluginSource,
  readPluginManifest,
} from "./manifest.js";

export interface DiscoverOptions {
  /** Where the project search starts (the nearest package.json upward). */
  readonly cwd?: string;
  /** Environment (VSNAP_PLUGINS, VSNAP_PLUGIN_DIR). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Packages named on the command line (`--plugin`): a package name or a package directory. */
  readonly explicit?: readonly string[];
  /**
   * `import.meta.url` of the host (the CLI or controller). Plugins installed beside it (global
   * installs put every package in one node_modules) and its own dependencies are found from here.
   */
  readonly hostUrl?: string;
}

export interface Discovery {
  readonly manifests: PluginManifest[];
  /** Packages that claim to be plugins but could not be read; shown by `vsnap plugins`. */
  readonly problems: string[];
}

/**
 * Finds installed store plugins by reading package.json files only (nothing is imported).
 * Sources, in precedence order: explicit (--plugin, VSNAP_PLUGINS), VSNAP_PLUGIN_DIR, the
 * project's declared dependencies, packages beside the host, the host's own dependencies.
 * Declared/installed packages are resolved by name, never by scanning a whole node_modules tree
 * (that broke under pnpm for Prettier, prettier#14759): only plugin-named folders are read.
 */
export function discoverPlugins(options: DiscoverOptions = {}): Discovery {
  const env = options.env ?? process.env;
  const found = new Map<string, PluginManifest>();
  const problems: string[] = [];
  const add = (dir: string, source: PluginSource, mustBePlugin: boolean) => {
    const result = readPluginManifest(dir, source);
    if (typeof result === "string") problems.push(result);
    else if (result === undefined) {
      if (mustBePlugin)
        problems.push(
          `${dir} is not a vsnap store plugin (its package.json has no "vsnap": {"kind": "store"} field)`,
        );
    } else if (!found.has(result.packageName)) found.set(result.packageName, result);
  };

  const cwd = options.cwd ?? process.cwd();
  const explicit = [...(options.explicit ?? []), ...splitList(env.VSNAP_PLUGINS)];
  for (const spec of explicit) {
    const dir = resolveSpec(spec, cwd);
    if (dir) add(dir, "explicit", true);
    else
      problems.push(
        `plugin "${spec}" was not found (looked for a package directory or an installed package from ${cwd})`,
      );
  }

  const pluginDir = env.VSNAP_PLUGIN_DIR;
  if (pluginDir) {
    for (const dir of pluginFolders(path.join(pluginDir, "node_modules"))) add(dir, "plugin-dir", false);
  }

  const project = nearestPackageJson(cwd);
  if (project) {
    for (const name of declaredDependencies(project)) {
      if (!isPluginPackageName(name)) continue;
      const dir = resolvePackageDir(name, path.dirname(project));
      if (dir) add(dir, "project", false);
    }
  }

  if (options.hostUrl) {
    const hostDir = packageDirOf(fileURLToPath(options.hostUrl));
    if (hostDir) {
      // beside the host: `npm i -g @vsnap/cli @vsnap/store-s3` puts both in one node_modules
      const parent = enclosingNodeModules(hostDir);
      if (parent) for (const dir of pluginFolders(parent)) add(dir, "beside-cli", false);
      // the host's own dependencies (the embedded default, @vsnap/store-container)
      const manifest = path.join(hostDir, "package.json");
      for (const name of declaredDependencies(manifest)) {
        if (!isPluginPackageName(name)) continue;
        const dir = resolvePackageDir(name, hostDir);
        if (dir) add(dir, "builtin", false);
      }
    }
  }
  return { manifests: [...found.values()], problems };
}

function splitList(value: string | undefined): string[] {
  return (value ?? "").split(/[,\s]+/).filter(Boolean);
}

function resolveSpec(spec: string, cwd: string): string | undefined {
  if (spec.startsWith(".") || path.isAbsolute(spec)) {
    const dir = path.resolve(cwd, spec);
    return existsSync(path.join(dir, "package.json")) ? realpathSync(dir) : undefined;
  }
  return resolvePackageDir(spec, cwd);
}

/** Node's lookup: `<dir>/node_modules/<name>` from `from` upward (symlinks resolved, so pnpm works). */
export function resolvePackageDir(name: string, from: string): string | undefined {
  let dir = path.resolve(from);
  for (;;) {
    const candidate = path.join(dir, "node_modules", name);
    if (existsSync(path.join(candidate, "package.json"))) return realpathSync(candidate);
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Plugin-named package folders directly in a node_modules directory (scoped ones included). */
function pluginFolders(nodeModules: string): string[] {
  const out: string[] = [];
  for (const entry of safeReaddir(nodeModules)) {
    if (entry.startsWith("@")) {
      for (const inner of safeReaddir(path.join(nodeModules, entry))) {
        if (isPluginPackageName(`${entry}/${inner}`))
          out.push(realpathOrSelf(path.join(nodeModules, entry, inner)));
      }
    } else if (isPluginPackageName(entry)) out.push(realpathOrSelf(path.join(nodeModules, entry)));
  }
  return out.filter((dir) => existsSync(path.join(dir, "package.json")));
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function realpathOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

function nearestPackageJson(from: string): string | undefined {
  let dir = path.resolve(from);
  for (;;) {
    const candidate = path.join(dir, "package.json");
    if (existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function declaredDependencies(packageJsonPath: string): string[] {
  try {
    const pkg = JSON.parse(readFileSync(packageJsonPath, "utf8")) as Record<string, unknown>;
    const names = new Set<string>();
    for (const field of ["dependencies", "optionalDependencies", "devDependencies"]) {
      const deps = pkg[field];
      if (deps && typeof deps === "object") for (const name of Object.keys(deps)) names.add(name);
    }
    return [...names];
  } catch {
    return [];
  }
}

/** The directory of the package that contains `file`. */
function packageDirOf(file: string): string | undefined {
  let dir = path.dirname(realpathOrSelf(file));
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** For `/x/node_modules/@vsnap/cli` returns `/x/node_modules`. */
function enclosingNodeModules(packageDir: string): string | undefined {
  const parts = packageDir.split(path.sep);
  const index = parts.lastIndexOf("node_modules");
  return index > 0 ? parts.slice(0, index + 1).join(path.sep) : undefined;
}
