import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseWithPlugin, type Store } from "@vsnap/core";
import { onTestFinished } from "vitest";
import plugin, { containerUrl } from "../src/index.js";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

/** A fresh directory under the OS temp dir, removed when the calling test finishes. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "vsnap-container-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function openStore(file: string): Promise<Store> {
  return plugin.open(parseWithPlugin(containerUrl(file), plugin), { env: {} });
}

export async function* bytesOf(...parts: Array<string | Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === "string" ? Buffer.from(part) : part;
}

export interface ChildEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}

/** Runs test/fixtures/child.ts in its own Node process (optionally as another user). */
export function startChild(op: string, url: string, options: { uid?: number; gid?: number } = {}) {
  const child = spawn(
    process.execPath,
    ["--import", path.join(fixtures, "ts-resolve.mjs"), path.join(fixtures, "child.ts"), op, url],
    { stdio: ["ignore", "pipe", "pipe"], ...options },
  );
  const events: ChildEvent[] = [];
  const waiters: Array<() => void> = [];
  let stderr = "";
  let buffered = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    buffered += text;
    for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
      events.push(JSON.parse(buffered.slice(0, newline)) as ChildEvent);
      buffered = buffered.slice(newline + 1);
    }
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      for (const wake of waiters.splice(0)) wake();
      resolve({ code, signal });
    }),
  );
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    child,
    exited,
    stderr: () => stderr,
    /** The first event named `name`; rejects if the child exits or `timeoutMs` passes first. */
    async waitFor(name: string, timeoutMs = 60_000): Promise<ChildEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find((e) => e.event === name || e.event === "error");
        if (found) return found;
        if (done) throw new Error(`child exited before "${name}"; stderr:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`child sent no "${name}" within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
  };
}

export const NOBODY = { uid: 65534, gid: 65534 };

/**
 * Whether a child can run this package's sources as `nobody`: needs root, and a checkout and Node
 * that other users may read (not the case under a private home directory, for instance).
 */
export function canRunAsNobody(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = spawnSync(
    process.execPath,
    [
      "-e",
      "require('node:fs').accessSync(process.argv[1], require('node:fs').constants.R_OK)",
      path.join(fixtures, "child.ts"),
    ],
    { ...NOBODY, stdio: "ignore" },
  );
  return probe.status === 0;
}
