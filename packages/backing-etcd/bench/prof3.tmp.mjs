import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { startEtcd } from "@vsnap/test-servers/etcd";
import { generateDemoCluster } from "@vsnap/core";
import { etcdSource, etcdTarget } from "../dist/index.js";
const etcd = await startEtcd();
try {
  const entries = [...generateDemoCluster({ keys: 40000 })];
  async function* feed() { yield* entries; }
  console.profile?.();
  let t = performance.now();
  await etcdTarget({ endpoints: etcd.endpoint }).restore(feed());
  console.log("restore", performance.now() - t);
  t = performance.now();
  const rp = await etcdSource({ endpoints: etcd.endpoint, mode: "db" }).open();
  const { chunks } = await rp.database();
  await pipeline(chunks, createWriteStream("/dev/null"));
  await rp.close();
  console.log("db", performance.now() - t);
} finally { await etcd.close(); }
