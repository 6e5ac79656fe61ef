// Measures @vsnap/backing-etcd on a 100k-key store of realistic values (core's demo cluster):
// restore into a live etcd, key/value snapshot (read only, and into a .tar.gz), db snapshot,
// bbolt conversion. Run after `pnpm --filter @vsnap/backing-etcd build`:
//   node packages/backing-etcd/bench/etcd-100k.mjs [keys]
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { generateDemoCluster, writeArchive } from "@vsnap/core";
import { startEtcd } from "@vsnap/test-servers/etcd";
import { etcdSource, etcdTarget, openEtcdDatabase } from "../dist/index.js";

const keys = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-etcd-bench-"));
const etcd = await startEtcd();
const MB = 1024 * 1024;
const rows = [];
// The machine is shared: besides wall-clock time, count the CPU seconds etcd and this process
// spent, which do not depend on how busy the other cores are.
const TICKS = 100; // USER_HZ
function etcdCpu(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}
let mark;
function begin() {
  const cpu = process.cpuUsage();
  mark = { etcd: etcdCpu(etcd.pid), node: (cpu.user + cpu.system) / 1e6 };
}
function cpuSince() {
  const cpu = process.cpuUsage();
  return { etcd: etcdCpu(etcd.pid) - mark.etcd, node: (cpu.user + cpu.system) / 1e6 - mark.node };
}
function report(what, ms, n, bytes) {
  const cpu = cpuSince();
  // etcd and the client run in parallel on 2 cores: an idle machine needs at least the larger CPU time
  const idleSeconds = Math.max(cpu.etcd, cpu.node);
  rows.push({
    what,
    seconds: +(ms / 1000).toFixed(2),
    "keys/s": n ? Math.round(n / (ms / 1000)) : "",
    "MB/s": +(bytes / MB / (ms / 1000)).toFixed(1),
    "etcd cpu s": +cpu.etcd.toFixed(2),
    "client cpu s": +cpu.node.toFixed(2),
    "keys/s by cpu": n ? Math.round(n / idleSeconds) : "",
    "MB/s by cpu": +(bytes / MB / idleSeconds).toFixed(1),
  });
}
async function timed(fn) {
  begin();
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}
try {
  const entries = [...generateDemoCluster({ keys })];
  const valueBytes = entries.reduce((s, e) => s + e.value.length, 0);
  async function* feed() {
    yield* entries;
  }

  const [restoreMs, restored] = await timed(() => etcdTarget({ endpoints: etcd.endpoint }).restore(feed()));
  report(
    "restore into etcd (batched txns + read-back verify + compact)",
    restoreMs,
    restored.keys,
    restored.bytes,
  );

  const source = etcdSource({ endpoints: etcd.endpoint });
  const [readMs, read] = await timed(async () => {
    const rp = await source.open();
    let n = 0;
    let b = 0;
    for await (const kv of rp.entries()) {
      n++;
      b += kv.value.length;
    }
    await rp.close();
    return { n, b };
  });
  report("kv snapshot: pinned paged reads only", readMs, read.n, read.b);

  const kvFile = path.join(dir, "kv.tar.gz");
  const [kvArchiveMs, kvManifest] = await timed(async () => {
    const rp = await source.open();
    const w = writeArchive({ readPoint: rp, toolVersion: "bench" });
    await pipeline(w.stream, createWriteStream(kvFile));
    const m = await w.done;
    await rp.close();
    return m;
  });
  report(
    `kv snapshot into .tar.gz (${(statSync(kvFile).size / MB).toFixed(1)} MB archive)`,
    kvArchiveMs,
    kvManifest.keys,
    kvManifest.bytes,
  );

  const dbFile = path.join(dir, "snap.db");
  const [dbMs, dbSize] = await timed(async () => {
    const rp = await etcdSource({ endpoints: etcd.endpoint, mode: "db" }).open();
    const { size, chunks } = await rp.database();
    await pipeline(chunks, createWriteStream(dbFile));
    await rp.close();
    return size;
  });
  report("db snapshot stream (SHA-256 checked) to a file", dbMs, 0, dbSize);

  const dbArchive = path.join(dir, "db.tar.gz");
  const [dbArchiveMs] = await timed(async () => {
    const rp = await etcdSource({ endpoints: etcd.endpoint, mode: "db" }).open();
    const w = writeArchive({ readPoint: rp, toolVersion: "bench" });
    await pipeline(w.stream, createWriteStream(dbArchive));
    await w.done;
    await rp.close();
  });
  report(
    `db snapshot into .tar.gz (${(statSync(dbArchive).size / MB).toFixed(1)} MB archive)`,
    dbArchiveMs,
    0,
    dbSize,
  );

  const [openMs, rp] = await timed(() => openEtcdDatabase(dbFile));
  report("bbolt: index the db (open)", openMs, rp.totals.keys, dbSize);
  const [convMs, conv] = await timed(async () => {
    let n = 0;
    let b = 0;
    for await (const kv of rp.entries()) {
      n++;
      b += kv.value.length;
    }
    return { n, b };
  });
  await rp.close();
  report("bbolt: key/values in key order", convMs, conv.n, conv.b);

  // on a fresh etcd (revision 1): a snapshot revision of 1000 means 2000 revisions to add
  const fresh = await startEtcd();
  const [bumpMs, bumped] = await timed(() =>
    etcdTarget({ endpoints: fresh.endpoint, verify: false, compact: false })
      .restore((async function* () {})(), { revision: 1000 })
      .finally(() => fresh.close()),
  );
  rows.push({
    what: `revision bump alone (${bumped.revisionBump} revisions)`,
    seconds: +(bumpMs / 1000).toFixed(2),
    "keys/s": `${Math.round(bumped.revisionBump / (bumpMs / 1000))} rev/s`,
    "MB/s": "",
    MB: "",
  });

  console.log(
    `${keys} keys, ${(valueBytes / MB).toFixed(1)} MB of values (demo cluster), db ${(dbSize / MB).toFixed(1)} MB; ${os.cpus().length} cores, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  console.table(rows);
} finally {
  await etcd.close();
  rmSync(dir, { recursive: true, force: true });
}
