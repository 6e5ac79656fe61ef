import { readFileSync } from "node:fs";
import { etcdSource } from "@vsnap/backing-etcd";

const rp = await etcdSource({ endpoints: process.argv[2], mode: "kv" }).open();
let n = 0,
  maxAB = 0,
  maxAfter = 0;
const hwm = () => (Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]) / 1024) | 0;
for await (const kv of rp.entries()) {
  if (++n % 2000 === 0) {
    const before = process.memoryUsage().arrayBuffers;
    maxAB = Math.max(maxAB, before);
    if (globalThis.gc) {
      gc();
      maxAfter = Math.max(maxAfter, process.memoryUsage().arrayBuffers);
    }
  }
}
await rp.close();
console.log(
  `gc=${!!globalThis.gc} keys ${n} arrayBuffers peak(sampled) ${(maxAB / 1048576) | 0} MiB, after-gc peak ${(maxAfter / 1048576) | 0} MiB, VmHWM ${hwm()} MiB`,
);
