import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import path from "node:path";
import { startEtcd } from "@vsnap/test-servers/etcd";

/**
 * A real etcd for the benchmark: @vsnap/test-servers' `startEtcd` with its data under the
 * benchmark's own scratch folder (a CI run on the same machine cleans up with
 * `pkill -f 'vsnap-(etcd|rgw|registry|ceph)'`, which would otherwise stop it mid-run), stopped even
 * if the benchmark dies, and reporting the server's own CPU time, which a key/value snapshot costs
 * beside the client's.
 */
export interface BenchEtcd {
  readonly endpoint: string;
  readonly pid: number;
  /** User + system CPU seconds etcd has used so far. */
  cpuSeconds(): number;
  close(): Promise<void>;
}

const CLOCK_TICKS = 100;

export function processCpuSeconds(pid: number): number {
  try {
    // fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

export async function startBenchEtcd(parent: string): Promise<BenchEtcd> {
  const server = await startEtcd({ root: mkdtempSync(path.join(parent, "etcd-")) });
  // If the benchmark dies without closing it, stop etcd anyway.
  const reaper = spawn(
    "sh",
    ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${server.pid} 2>/dev/null`],
    { stdio: "ignore", detached: true },
  );
  reaper.unref();
  return {
    endpoint: server.endpoint,
    pid: server.pid,
    cpuSeconds: () => processCpuSeconds(server.pid),
    async close() {
      reaper.kill();
      await server.close();
    },
  };
}
