import { VsnapError } from "@vsnap/core";

export type OutputFormat = "table" | "json" | "yaml";

/** Where results (stdout) and diagnostics/progress (stderr) go; tests give their own streams. */
export interface OutputStreams {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export class Output {
  readonly format: OutputFormat;
  readonly #streams: OutputStreams;
  readonly #quiet: boolean;

  constructor(streams: OutputStreams, format: OutputFormat, quiet: boolean) {
    this.#streams = streams;
    this.format = format;
    this.#quiet = quiet;
  }

  /** A result line on stdout. */
  print(line = ""): void {
    this.#streams.stdout.write(`${line}\n`);
  }

  /** An informational line on stderr (suppressed by --quiet and by -o json/yaml). */
  info(line: string): void {
    if (!this.#quiet && this.format === "table") this.#streams.stderr.write(`${line}\n`);
  }

  warn(line: string): void {
    this.#streams.stderr.write(`warning: ${line}\n`);
  }

  error(line: string): void {
    this.#streams.stderr.write(`error: ${line}\n`);
  }

  /** Structured output: JSON or YAML of `value`, or a table built from `rows`. */
  result(value: unknown, table: () => { headers: string[]; rows: string[][] }): void {
    if (this.format === "json") this.print(JSON.stringify(value, null, 2));
    else if (this.format === "yaml") this.#streams.stdout.write(toYaml(value));
    else {
      const { headers, rows } = table();
      this.print(renderTable(headers, rows));
    }
  }

  /** A live progress line on a terminal; nothing at all when stderr is piped or --quiet. */
  progress(): Progress {
    const stream = this.#streams.stderr;
    return new Progress(stream, Boolean(stream.isTTY) && !this.#quiet && this.format === "table");
  }
}

export class Progress {
  readonly #stream: OutputStreams["stderr"];
  readonly #enabled: boolean;
  #last = 0;
  #shown = false;

  constructor(stream: OutputStreams["stderr"], enabled: boolean) {
    this.#stream = stream;
    this.#enabled = enabled;
  }

  /** Redraws at most 10 times a second. */
  update(text: () => string): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#last < 100) return;
    this.#last = now;
    const width = (this.#stream.columns ?? 100) - 1;
    this.#stream.write(`\r\x1b[2K${text().slice(0, width)}`);
    this.#shown = true;
  }

  done(): void {
    if (this.#shown) this.#stream.write("\r\x1b[2K");
    this.#shown = false;
  }
}

export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join(" | ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("-+-");
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/** Minimal YAML for plain JSON data (objects, arrays, scalars); strings are JSON-quoted when needed. */
export function toYaml(value: unknown, indent = ""): string {
  const scalar = (v: unknown): string => {
    if (v === null || v === undefined) return "null";
    if (typeof v === "string")
      return /^[\w./:@-][\w ./:@+,-]*$/.test(v) && !/^(true|false|null|[\d.]+)$/.test(v)
        ? v
        : JSON.stringify(v);
    return String(v);
  };
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`;
    return value
      .map((item) => {
        if (item && typeof item === "object") {
          const inner = toYaml(item, `${indent}  `);
          return `${indent}- ${inner.slice(indent.length + 2)}`;
        }
        return `${indent}- ${scalar(item)}\n`;
      })
      .join("");
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return `${indent}{}\n`;
    return entries
      .map(([k, v]) => {
        if (v && typeof v === "object" && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0)) {
          return `${indent}${k}:\n${toYaml(v, `${indent}  `)}`;
        }
        return `${indent}${k}: ${v && typeof v === "object" ? (Array.isArray(v) ? "[]" : "{}") : scalar(v)}\n`;
      })
      .join("");
  }
  return `${indent}${scalar(value)}\n`;
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

export function formatAge(since: Date, now = new Date()): string {
  const seconds = Math.max(0, Math.floor((now.getTime() - since.getTime()) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** The text shown for an error: message plus hint, never a stack unless asked for. */
export function describeError(error: unknown, verbose: boolean): string {
  if (VsnapError.is(error)) {
    const hint = error.hint ? `\n  hint: ${error.hint}` : "";
    return `${error.message}${hint}${verbose && error.stack ? `\n${error.stack}` : ""}`;
  }
  const wrapped = VsnapError.wrap(error, "INTERNAL");
  return verbose && wrapped.stack ? wrapped.stack : wrapped.message;
}
