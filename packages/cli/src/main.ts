import { parseArgs } from "node:util";
import { PluginRegistry, VsnapError } from "@vsnap/core";
import type { Command, CommandContext, OptionSpec, OptionValues } from "./command.js";
import { COMMANDS } from "./commands/index.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import { describeError, Output, type OutputFormat, type OutputStreams } from "./output.js";
import { TOOL_VERSION } from "./version.js";

/** Options every command takes. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  output: {
    type: "string",
    short: "o",
    valueName: "FORMAT",
    description: "output format: table (default), json or yaml",
  },
  plugin: {
    type: "string",
    multiple: true,
    valueName: "PACKAGE",
    description: "use this store plugin package (name or directory); repeatable",
  },
  quiet: { type: "boolean", short: "q", description: "no progress and no informational messages" },
  verbose: { type: "boolean", short: "v", description: "show error causes and stacks" },
  help: { type: "boolean", short: "h", description: "show help" },
};

export interface MainOptions {
  readonly streams?: OutputStreams;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  readonly signal?: AbortSignal;
}

/** Runs the CLI and returns the exit code (bin.ts sets process.exitCode from it). */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const streams = options.streams ?? { stdout: process.stdout, stderr: process.stderr };
  const env = options.env ?? process.env;
  const words = argv.filter((a) => !a.startsWith("-"));
  const wantsHelp = argv.includes("--help") || argv.includes("-h") || words[0] === "help";
  const path = words[0] === "help" ? words.slice(1) : words;

  if (argv.includes("--version") || path[0] === "version") {
    streams.stdout.write(`vsnap ${TOOL_VERSION}\n`);
    return EXIT.OK;
  }
  const variants = findCommand(path);
  if (!variants) {
    const known = path.length > 0 && !wantsHelp;
    streams.stderr.write(known ? `error: unknown command "${path.join(" ")}"\n\n` : "");
    streams[known ? "stderr" : "stdout"].write(generalHelp());
    return known ? EXIT.USAGE : EXIT.OK;
  }
  if (wantsHelp) {
    streams.stdout.write(commandHelp(variants));
    return EXIT.OK;
  }

  const first = variants[0]!;
  const rest = argv.slice(argv.indexOf(first.path[first.path.length - 1]!) + 1);
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...rest],
      options: toParseArgsOptions({ ...GLOBAL_OPTIONS, ...mergedOptions(variants) }),
      allowPositionals: true,
      strict: true,
    }) as { values: OptionValues; positionals: string[] };
  } catch (error) {
    streams.stderr.write(`error: ${(error as Error).message}\n\n${commandHelp(variants)}`);
    return EXIT.USAGE;
  }
  const format = String(parsed.values.output ?? "table") as OutputFormat;
  if (!["table", "json", "yaml"].includes(format)) {
    streams.stderr.write(`error: -o/--output must be table, json or yaml, got "${format}"\n`);
    return EXIT.USAGE;
  }
  const out = new Output(streams, format, parsed.values.quiet === true);
  const command = variants.find(
    (v) =>
      parsed.positionals.length >= v.arity[0] &&
      parsed.positionals.length <= v.arity[1] &&
      (v.accepts?.(parsed.positionals, parsed.values) ?? true),
  );
  if (!command) {
    out.error(`wrong arguments for "vsnap ${first.path.join(" ")}"`);
    streams.stderr.write(`\n${commandHelp(variants)}`);
    return EXIT.USAGE;
  }

  const controller = new AbortController();
  const onSignal = () => controller.abort(new VsnapError("ABORTED", "interrupted"));
  const external = options.signal;
  external?.addEventListener("abort", onSignal, { once: true });
  if (!options.signal) {
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  let registry: PluginRegistry | undefined;
  const cwd = options.cwd ?? process.cwd();
  const context: CommandContext = {
    args: parsed.positionals,
    options: parsed.values,
    out,
    env,
    cwd,
    signal: controller.signal,
    registry: () => {
      registry ??= PluginRegistry.discover({
        cwd,
        env,
        explicit: (parsed.values.plugin as string[] | undefined) ?? [],
        hostUrl: import.meta.url,
      });
      return registry;
    },
  };
  try {
    return (await command.run(context)) ?? EXIT.OK;
  } catch (error) {
    out.error(describeError(error, parsed.values.verbose === true));
    return VsnapError.is(error) ? exitCodeFor(error.code) : EXIT.FAILURE;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}

function findCommand(path: readonly string[]): Command[] | undefined {
  for (let length = Math.min(path.length, 3); length > 0; length--) {
    const prefix = path.slice(0, length).join(" ");
    const matches = COMMANDS.filter((c) => c.path.join(" ") === prefix);
    if (matches.length > 0) return matches;
  }
  return undefined;
}

function mergedOptions(variants: readonly Command[]): Record<string, OptionSpec> {
  return Object.assign({}, ...variants.map((v) => v.options));
}

function toParseArgsOptions(specs: Record<string, OptionSpec>) {
  const out: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    out[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  return out;
}

function optionLines(specs: Readonly<Record<string, OptionSpec>>): string[] {
  return Object.entries(specs).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${spec.type === "string" ? ` ${spec.valueName ?? "VALUE"}` : ""}`;
    return `  ${flag.padEnd(34)} ${spec.description}`;
  });
}

export function commandHelp(variants: readonly Command[]): string {
  const lines: string[] = [];
  for (const v of variants) {
    lines.push(`${v.summary}`, "", `Usage: ${v.usage}`, "");
    if (v.description) lines.push(v.description, "");
    const own = optionLines(v.options);
    if (own.length) lines.push("Options:", ...own, "");
    if (v.examples.length) lines.push("Examples:", ...v.examples.map((e) => `  ${e}`), "");
  }
  lines.push(
    "Global options:",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    "Exit codes: see `vsnap help` (0 ok, 2 usage, 3 not found, 4 integrity, ...)",
    "",
  );
  return lines.join("\n");
}

export function generalHelp(): string {
  const seen = new Set<string>();
  const rows: string[] = [];
  for (const c of COMMANDS) {
    const key = c.path.join(" ");
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push(`  ${key.padEnd(20)} ${c.summary}`);
  }
  return [
    `vsnap ${TOOL_VERSION} — snapshots and restores of virtual Kubernetes clusters`,
    "",
    "Usage: vsnap COMMAND [ARGS] [OPTIONS]",
    "",
    "Commands:",
    ...rows,
    "",
    "Snapshot URLs: container:///ABS/PATH/FILE.tar.gz, s3://BUCKET/KEY, oci://REGISTRY/REPO[:TAG]",
    "(s3:// and oci:// need @vsnap/store-s3 / @vsnap/store-oci installed; see `vsnap plugins`).",
    "",
    "Exit codes: 0 ok, 1 failure, 2 usage/invalid URL, 3 not found, 4 integrity (corrupt archive),",
    "5 authentication/permission, 6 unavailable/timeout, 7 precondition (e.g. non-empty target),",
    "8 unsupported/plugin problem, 130 interrupted.",
    "",
    "Run `vsnap COMMAND --help` for a command's options and examples.",
    "",
  ].join("\n");
}
