// Throughput and memory of the SQLite backing store on this machine.
//   node bench/figures.mjs [keys=100000] [dir=/tmp/vsnap-sqlite-bench]
// Each phase runs in its own process so its peak RSS is its own.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PHASES = ["generate", "create", "read", "restore"];
const args = process.argv.slice(2);
const phase = PHASES.includes(args[0]) ? args.shift() : undefined;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function run(name, keys, dir) {
  const { generateDemoCluster } = await import("@vsnap/core");
  const { createKineDatabase, sqliteSource, sqliteTarget } = await import("@vsnap/backing-sqlite");
  const source = path.join(dir, "source.db");
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const t0 = performance.now();
  const c0 = cpu();
  let out;
  if (name === "generate") {
    let n = 0;
    let bytes = 0;
    for (const { value } of generateDemoCluster({ keys })) {
      n++;
      bytes += value.length;
    }
    out = { keys: n, bytes };
  } else if (name === "create") {
    rmSync(source, { force: true });
    out = await createKineDatabase(source, generateDemoCluster({ keys }));
    out.fileBytes = statSync(source).size;
  } else if (name === "read") {
    const point = await sqliteSource(source).open();
    let n = 0;
    let bytes = 0;
    for await (const { value } of point.entries()) {
      n++;
      bytes += value.length;
    }
    await point.close();
    out = { keys: n, bytes, revision: point.revision };
  } else if (name === "restore") {
    const target = path.join(dir, "restored.db");
    rmSync(target, { force: true });
    const point = await sqliteSource(source).open();
    out = await sqliteTarget(target).restore(point.entries(), { revision: point.revision });
    await point.close();
  }
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpu() - c0;
  console.log(
    JSON.stringify({
      phase: name,
      ...out,
      seconds: +seconds.toFixed(2),
      cpuSeconds: +cpuSeconds.toFixed(2),
      keysPerSecond: Math.round(out.keys / seconds),
      keysPerCpuSecond: Math.round(out.keys / cpuSeconds),
      peakRssMiB: Math.round(peak / 2 ** 20),
    }),
  );
}

if (phase) {
  await run(phase, Number(args[0]), args[1]);
} else {
  const keys = Number(args[0] ?? 100_000) || 100_000;
  const dir = args[1] ?? "/tmp/vsnap-sqlite-bench";
  mkdirSync(dir, { recursive: true });
  const self = fileURLToPath(import.meta.url);
  for (const name of PHASES) {
    execFileSync(process.execPath, [self, name, String(keys), dir], { stdio: "inherit" });
  }
  rmSync(dir, { recursive: true, force: true });
}
