import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { freePort, waitFor } from "@vsnap/test-servers/ports";

/**
 * A real etcd for the benchmark, like @vsnap/test-servers' `startEtcd` but with its data under the
 * benchmark's own scratch folder: a CI run on the same machine cleans up with
 * `pkill -f 'vsnap-(etcd|rgw|registry|ceph)'`, which would otherwise stop it mid-run. Also reports
 * the server's own CPU time, which a key/value snapshot costs beside the client's.
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
  const root = mkdtempSync(path.join(parent, "etcd-"));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child: ChildProcess = spawn(
    "etcd",
    [
      "--name",
      "n1",
      "--data-dir",
      path.join(root, "data"),
      "--listen-client-urls",
      endpoint,
      "--advertise-client-urls",
      endpoint,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      `n1=${peer}`,
      "--log-level",
      "error",
      "--quota-backend-bytes",
      String(8 * 1024 ** 3),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // If the benchmark dies without closing it, stop etcd anyway.
  const reaper = spawn(
    "sh",
    ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${child.pid} 2>/dev/null`],
    {
      stdio: "ignore",
      detached: true,
    },
  );
  reaper.unref();
  try {
    await waitFor("etcd", async () => (await fetch(`${endpoint}/health`)).ok, 30_000);
  } catch (error) {
    child.kill("SIGKILL");
    reaper.kill();
    rmSync(root, { recursive: true, force: true });
    throw new Error(`etcd did not start: ${(error as Error).message}\n${stderr}`);
  }
  return {
    endpoint,
    pid: child.pid ?? -1,
    cpuSeconds: () => processCpuSeconds(child.pid ?? -1),
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      reaper.kill();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
