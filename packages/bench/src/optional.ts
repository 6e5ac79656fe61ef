import type { KeyValue, RestoreTarget, SnapshotSource, StorePlugin } from "@vsnap/core";

/**
 * Packages the benchmark uses when they are installed and built. They are imported by name at run
 * time so that a missing one skips its rows with a note instead of failing the whole run.
 */

export interface SqliteBacking {
  sqliteSource(file: string): SnapshotSource;
  sqliteTarget(file: string, options?: { force?: boolean }): RestoreTarget;
  createKineDatabase(file: string, entries: Iterable<KeyValue> | AsyncIterable<KeyValue>): Promise<unknown>;
}

export interface DemoGenerator {
  generateDemoCluster(options: { keys: number; seed: number }): Iterable<KeyValue> | AsyncIterable<KeyValue>;
}

export type Loaded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

async function load<T>(
  specifier: string,
  check: (module: Record<string, unknown>) => string | undefined,
): Promise<Loaded<T>> {
  try {
    const module = (await import(specifier)) as Record<string, unknown>;
    const missing = check(module);
    if (missing) return { ok: false, reason: `${specifier} has no ${missing} (not landed yet?)` };
    return { ok: true, value: module as T };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === "ERR_MODULE_NOT_FOUND" ? "is not installed or not built" : (error as Error).message;
    return { ok: false, reason: `${specifier} ${why}` };
  }
}

const functions =
  (...names: string[]) =>
  (module: Record<string, unknown>) =>
    names.find((n) => typeof module[n] !== "function");

export const loadSqliteBacking = () =>
  load<SqliteBacking>(
    "@vsnap/backing-sqlite",
    functions("sqliteSource", "sqliteTarget", "createKineDatabase"),
  );

export const loadDemoGenerator = () => load<DemoGenerator>("@vsnap/core", functions("generateDemoCluster"));

/** A store plugin package's default export. */
export async function loadStorePlugin(packageName: string): Promise<Loaded<StorePlugin>> {
  const loaded = await load<{ default: StorePlugin }>(packageName, (m) =>
    typeof m.default === "object" && m.default !== null ? undefined : "default export (the plugin)",
  );
  return loaded.ok ? { ok: true, value: loaded.value.default } : loaded;
}
