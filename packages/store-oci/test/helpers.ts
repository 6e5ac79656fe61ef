import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ParsedLocation, parseWithPlugin, type StoreContext } from "@vsnap/core";
import { inject } from "vitest";
import { type OciOptions, type OciStore, ociStorePlugin } from "../src/index.js";

/** A fresh directory under the run's scratch dir (global setup removes it at the end). */
export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(inject("scratchDir"), `${prefix}-`));
}

/** An empty HOME so no test reads the machine's own docker config. */
export const EMPTY_HOME = tempDir("home");

export function testEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { PATH: process.env.PATH, HOME: EMPTY_HOME, TMPDIR: os.tmpdir(), ...extra };
}

export function parse(url: string): ParsedLocation<OciOptions> {
  return parseWithPlugin(url, ociStorePlugin);
}

export async function openStore(url: string, context: Partial<StoreContext> = {}): Promise<OciStore> {
  const store = await ociStorePlugin.open(parse(url), { env: testEnv(), ...context });
  return store as OciStore;
}

export function uniqueRepo(name: string): string {
  return `vsnap-test/${name}-${randomBytes(4).toString("hex")}`;
}

export function b64(text: string): string {
  return Buffer.from(text).toString("base64");
}

export interface Payload {
  readonly bytes: Buffer;
  readonly sha256: string;
  /** The payload as a stream of `piece`-byte chunks (a fresh iterable on every call). */
  chunks(piece?: number): AsyncIterable<Uint8Array>;
}

export function payload(size: number): Payload {
  const bytes = randomBytes(size);
  return {
    bytes,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    async *chunks(piece = 64 * 1024) {
      for (let i = 0; i < bytes.length; i += piece) yield bytes.subarray(i, i + piece);
    },
  };
}

export async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export async function errorOf(promise: Promise<unknown>): Promise<Error & { code?: string; hint?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; hint?: string };
  }
  throw new Error("expected the operation to fail");
}

export const MiB = 1024 * 1024;

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * A real `docker-credential-<name>` executable in a fresh bin dir: it answers `get` for the given
 * servers (the JSON docker's helpers print) and "credentials not found" for others, and logs every
 * call (`<verb> <server>`) to `logFile`.
 */
export function writeCredentialHelper(
  name: string,
  entries: Readonly<Record<string, { username: string; secret: string }>>,
): { binDir: string; logFile: string; calls(): string[] } {
  const binDir = tempDir("bin");
  const logFile = path.join(binDir, "calls.log");
  const cases = Object.entries(entries)
    .map(
      ([server, e]) =>
        `  ${shellQuote(server)}) printf '%s' ${shellQuote(JSON.stringify({ ServerURL: server, Username: e.username, Secret: e.secret }))} ;;`,
    )
    .join("\n");
  const script = `#!/bin/sh
server=$(cat)
echo "$1 $server" >> ${shellQuote(logFile)}
case "$server" in
${cases}
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;
  writeFileSync(path.join(binDir, `docker-credential-${name}`), script, { mode: 0o755 });
  return {
    binDir,
    logFile,
    calls: () =>
      existsSync(logFile) ? readFileSync(logFile, "utf8").trim().split("\n").filter(Boolean) : [],
  };
}

/** A DOCKER_CONFIG dir holding `config`. */
export function writeDockerConfig(config: object): string {
  const dir = tempDir("docker-config");
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  return dir;
}
