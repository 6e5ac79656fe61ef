import path from "node:path";
import { sqliteSource, sqliteTarget } from "@vsnap/backing-sqlite";
import { type RestoreTarget, type SnapshotSource, VsnapError } from "@vsnap/core";
import { type OptionSpec, type OptionValues, stringOption } from "./command.js";

/** Flags that select a local backing store (no cluster): the embedded SQLite file or etcd. */
export const LOCAL_BACKING_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  sqlite: { type: "string", valueName: "FILE", description: "a kine-schema SQLite backing store (vCluster's embedded default)" },
};

export function usesLocalBacking(options: OptionValues): boolean {
  return Object.keys(LOCAL_BACKING_OPTIONS).some((name) => options[name] !== undefined);
}

export function localSource(options: OptionValues, cwd: string): SnapshotSource {
  const sqlite = stringOption(options, "sqlite");
  if (sqlite) return sqliteSource(path.resolve(cwd, sqlite));
  throw missingBacking();
}

export function localTarget(options: OptionValues, cwd: string): RestoreTarget {
  const sqlite = stringOption(options, "sqlite");
  if (sqlite) return sqliteTarget(path.resolve(cwd, sqlite), { force: options.force === true });
  throw missingBacking();
}

function missingBacking(): VsnapError {
  return new VsnapError("INVALID_ARGUMENT", "no backing store given", {
    hint: "pass --sqlite FILE (local mode), or a vCluster NAME before the URL (cluster mode)",
  });
}
