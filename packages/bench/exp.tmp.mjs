// ad-hoc experiment runner (not part of the package): node exp.tmp.mjs KEYS

import { mkdirSync, writeFileSync } from "node:fs";
import { startEtcd } from "@vsnap/test-servers/etcd";
import { measureJob } from "./dist/measure.js";

const keys = Number(process.argv[2] ?? 100000);
const etcd = await startEtcd();
const opts = (n) => ({ scratch: `/tmp/bx/s${n}`, timeoutMs: 600000 });
const load = await measureJob({ op: "load-etcd", endpoint: etcd.endpoint, keys, seed: 1 }, opts(0));
console.log("load", (load.wallMs / 1000).toFixed(1), load.error ?? "");
writeFileSync("/tmp/bx/endpoint", etcd.endpoint);
console.log("etcd at", etcd.endpoint, "pid", etcd.pid, "- ctrl-c to stop");
process.on("SIGTERM", async () => {
  await etcd.close();
  process.exit(0);
});
setInterval(() => {}, 1e9);
