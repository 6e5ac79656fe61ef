import { startEtcd } from "@vsnap/test-servers/etcd";
import { measureJob } from "./dist/measure.js";
const etcd = await startEtcd();
const m = await measureJob({ op: "restore", target: { kind: "etcd", endpoint: etcd.endpoint }, store: { name: "container", plugin: "@vsnap/store-container", url: "container:///tmp/bx/arch/kv.tar.gz", env: {} } },
  { scratch: "/tmp/bx/r", timeoutMs: 600000, nodeArgs: process.argv.slice(2) });
console.log(`restore wall ${(m.wallMs/1000).toFixed(2)} cpu ${(m.cpuMs/1000).toFixed(2)} rss ${(m.peakRssBytes/1048576)|0} keys ${m.result?.keys} ${m.error ?? ""}`);
await etcd.close();
