import { readFileSync } from "node:fs";
import { startEtcd } from "@vsnap/test-servers/etcd";
import { generateDemoCluster } from "@vsnap/core";
import { etcdSource, etcdTarget } from "../dist/index.js";
const etcd = await startEtcd();
const cpuOf = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" "); return (Number(f[11]) + Number(f[12])) / 100; };
try {
  await etcdTarget({ endpoints: etcd.endpoint, verify: false, compact: false }).restore(generateDemoCluster({ keys: 100000 }));
  for (const [pageSize, pageBytes] of [[1000, 4 << 20], [2000, 4 << 20], [10000, 16 << 20], [10000, 64 << 20]]) {
    const e0 = cpuOf(etcd.pid); const c0 = process.cpuUsage(); const t = performance.now();
    const rp = await etcdSource({ endpoints: etcd.endpoint, pageSize, pageBytes }).open();
    let k = 0; for await (const kv of rp.entries()) k++;
    await rp.close();
    const c = process.cpuUsage(c0);
    console.log({ pageSize, pageMB: pageBytes >> 20, wall: ((performance.now() - t) / 1000).toFixed(2), etcdCpu: (cpuOf(etcd.pid) - e0).toFixed(2), clientCpu: ((c.user + c.system) / 1e6).toFixed(2) });
  }
} finally { await etcd.close(); }
