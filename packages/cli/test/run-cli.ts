import { spawn } from "node:child_process";
import path from "node:path";

export const BIN = path.resolve(__dirname, "../dist/bin.js");

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `vsnap` in a child process, the way a user does (stdout/stderr piped). */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; bin?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.bin ?? BIN, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs a shell command line under a pseudo-terminal (util-linux `script`), for TTY-only behaviour. */
export function runInTerminal(commandLine: string, cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qefc", commandLine, "/dev/null"], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, COLUMNS: "160" },
    });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr: "" }));
  });
}
