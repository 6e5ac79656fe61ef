import { VsnapError } from "../errors.js";
import { parseWithPlugin, schemeOf } from "../location.js";
import {
  type ParsedLocation,
  STORE_API_VERSION,
  type Store,
  type StoreContext,
  type StorePlugin,
} from "../store.js";
import { type DiscoverOptions, discoverPlugins } from "./discover.js";
import { loadPlugin } from "./load.js";
import type { PluginManifest } from "./manifest.js";

/** First-party packages, so an unknown scheme can say exactly what to install. */
const FIRST_PARTY: Readonly<Record<string, string>> = {
  container: "@vsnap/store-container",
  s3: "@vsnap/store-s3",
  oci: "@vsnap/store-oci",
};

interface Candidate {
  readonly manifest: PluginManifest;
  plugin?: Promise<StorePlugin>;
}

/**
 * Maps URL schemes to store plugins. Built from discovered package manifests (plugins are
 * imported lazily, only the one a URL needs) or from plugin objects given in-process.
 */
export class PluginRegistry {
  readonly #byScheme = new Map<string, Candidate[]>();
  readonly #candidates: Candidate[] = [];
  readonly problems: readonly string[];

  private constructor(candidates: Candidate[], problems: string[]) {
    this.problems = problems;
    for (const candidate of candidates) {
      this.#candidates.push(candidate);
      for (const scheme of candidate.manifest.schemes) {
        const list = this.#byScheme.get(scheme) ?? [];
        list.push(candidate);
        this.#byScheme.set(scheme, list);
      }
    }
  }

  /** Discovers installed plugin packages (see `discoverPlugins`) without importing any. */
  static discover(options: DiscoverOptions = {}): PluginRegistry {
    const { manifests, problems } = discoverPlugins(options);
    return new PluginRegistry(
      manifests.map((manifest) => ({ manifest })),
      problems,
    );
  }

  /** A registry of plugin objects already in memory (tests, embedders, bundles). */
  static of(...plugins: StorePlugin<unknown>[]): PluginRegistry {
    return new PluginRegistry(
      plugins.map((plugin) => ({
        manifest: {
          packageName: plugin.name,
          version: "in-process",
          name: plugin.name,
          schemes: plugin.schemes.map((s) => s.toLowerCase()),
          apiVersion: plugin.apiVersion,
          dir: "",
          source: "builtin",
        },
        plugin: Promise.resolve(plugin),
      })),
      [],
    );
  }

  manifests(): readonly PluginManifest[] {
    return this.#candidates.map((c) => c.manifest);
  }

  /** The plugin serving `scheme`; imports its package on first use. */
  async plugin(scheme: string): Promise<StorePlugin> {
    const candidate = this.#select(scheme.toLowerCase());
    candidate.plugin ??= loadPlugin(candidate.manifest);
    return candidate.plugin;
  }

  async parse(url: string): Promise<ParsedLocation> {
    const plugin = await this.plugin(schemeOf(url));
    return parseWithPlugin(url, plugin);
  }

  /** Opens the store a URL (or parsed location) points into. */
  async open(
    target: string | ParsedLocation,
    context: StoreContext = { env: process.env },
  ): Promise<OpenedStore> {
    const location = typeof target === "string" ? await this.parse(target) : target;
    const plugin = await this.plugin(location.scheme);
    const store = await plugin.open(location, context);
    return { store, location, plugin };
  }

  #select(scheme: string): Candidate {
    const all = this.#byScheme.get(scheme) ?? [];
    if (all.length === 0) {
      const pkg = FIRST_PARTY[scheme];
      const known = [...this.#byScheme.keys()].sort().map((s) => `${s}://`);
      throw new VsnapError("UNSUPPORTED", `no store plugin handles ${scheme}://`, {
        hint: pkg
          ? `install ${pkg} (e.g. \`npm install -g ${pkg}\` beside a global vsnap, or add it to your project)`
          : `install a plugin package (named vsnap-store-<x> or @org/vsnap-store-<x>) that declares "${scheme}", or name it with --plugin; available: ${known.join(", ") || "none"}`,
      });
    }
    // an explicit choice (--plugin / VSNAP_PLUGINS) settles a conflict
    const explicit = all.filter((c) => c.manifest.source === "explicit");
    const pool = explicit.length > 0 ? explicit : all;
    if (pool.length > 1) {
      const names = pool.map((c) => `${c.manifest.packageName} (${c.manifest.dir})`).join(" and ");
      throw new VsnapError("PLUGIN", `scheme ${scheme}:// is claimed by ${names}`, {
        hint: `uninstall one, or choose with --plugin ${pool[0]?.manifest.packageName} (or VSNAP_PLUGINS)`,
      });
    }
    const chosen = pool[0]!;
    if (chosen.manifest.apiVersion !== STORE_API_VERSION) {
      throw new VsnapError(
        "PLUGIN",
        `store plugin ${chosen.manifest.packageName}@${chosen.manifest.version} declares store API version ${chosen.manifest.apiVersion}; this vsnap supports ${STORE_API_VERSION}`,
        {
          hint: `install a version of ${chosen.manifest.packageName} built for store API ${STORE_API_VERSION}, or upgrade vsnap`,
        },
      );
    }
    return chosen;
  }
}

export interface OpenedStore {
  readonly store: Store;
  readonly location: ParsedLocation;
  readonly plugin: StorePlugin;
}
