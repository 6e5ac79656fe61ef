import type { PluginRegistry } from "@vsnap/core";
import type { Output } from "./output.js";

export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly multiple?: boolean;
  readonly description: string;
  /** Shown in help as `--name VALUE`. */
  readonly valueName?: string;
  readonly default?: string | boolean;
}

export type OptionValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface CommandContext {
  readonly args: readonly string[];
  readonly options: OptionValues;
  readonly out: Output;
  /** Plugin discovery happens on first use: commands that need no store never pay for it. */
  registry(): PluginRegistry;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Fires on SIGINT/SIGTERM: long operations stop and clean up. */
  readonly signal: AbortSignal;
}

/**
 * One command variant. Several variants may share a path (local and cluster `snapshot create`):
 * the first whose `accepts` returns true runs; help lists them all.
 */
export interface Command {
  readonly path: readonly string[];
  readonly summary: string;
  readonly usage: string;
  readonly description?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly examples: readonly string[];
  /** Positional arguments accepted: [min, max]. */
  readonly arity: readonly [number, number];
  accepts?(args: readonly string[], options: OptionValues): boolean;
  run(context: CommandContext): Promise<number | undefined>;
}

export function stringOption(options: OptionValues, name: string): string | undefined {
  const value = options[name];
  return typeof value === "string" ? value : undefined;
}

export function listOption(options: OptionValues, name: string): string[] {
  const value = options[name];
  if (Array.isArray(value)) return value;
  return typeof value === "string" ? [value] : [];
}
