import { readFileSync } from "node:fs";
import { etcdSource } from "@vsnap/backing-etcd";

const [endpoint, pageBytes, pageSize] = process.argv.slice(2);
const hwm = () => (Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]) / 1024) | 0;
const ab = () => process.memoryUsage().arrayBuffers / 1048576;
let maxLive = 0,
  maxAB = 0,
  n = 0;
const rp = await etcdSource({
  endpoints: endpoint,
  mode: "kv",
  pageBytes: Number(pageBytes),
  pageSize: Number(pageSize),
}).open();
for await (const kv of rp.entries()) {
  if (++n % 1000 === 0) {
    maxAB = Math.max(maxAB, ab());
    if (globalThis.gc) {
      gc();
      maxLive = Math.max(maxLive, ab());
    }
  }
}
await rp.close();
console.log(
  `pageBytes ${pageBytes} pageSize ${pageSize}: VmHWM ${hwm()} MiB, arrayBuffers peak ${maxAB.toFixed(0)} MiB, live peak ${maxLive.toFixed(0)} MiB`,
);
