import { execFileSync } from "node:child_process";
import os from "node:os";

export interface MachineInfo {
  readonly cpuModel: string;
  /** What Node (and the parallel compressor) sees: `os.availableParallelism()`. */
  readonly cpus: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly loadBefore: readonly number[];
  readonly tools: Readonly<Record<string, string>>;
}

function firstLine(command: string, args: readonly string[]): string {
  try {
    const out = execFileSync(command, args, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 15_000,
    });
    return out.trim().split("\n")[0]!.trim();
  } catch {
    return "not installed";
  }
}

export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpus: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()} (${os.arch()})`,
    loadBefore: os.loadavg().map((l) => Math.round(l * 100) / 100),
    tools: {
      node: process.version,
      etcd: firstLine("etcd", ["--version"]).replace(/^etcd Version:\s*/, ""),
      etcdctl: firstLine("etcdctl", ["version"]).replace(/^etcdctl version:\s*/, ""),
      sqlite3: firstLine("sqlite3", ["--version"]).split(" ")[0] ?? "",
      gzip: firstLine("gzip", ["--version"]),
      tar: firstLine("tar", ["--version"]),
      "docker-registry": firstLine("docker-registry", ["--version"]),
      radosgw: firstLine("radosgw", ["--version"]).replace(/\s*\(.*$/, ""),
      aws: firstLine("/usr/bin/aws", ["--version"]).split(" ")[0] ?? "",
    },
  };
}
