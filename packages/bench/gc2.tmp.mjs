import { etcdSource } from "@vsnap/backing-etcd";

const ab = () => (process.memoryUsage().arrayBuffers / 1048576).toFixed(1);
gc();
console.log("start", ab());
const rp = await etcdSource({ endpoints: process.argv[2], mode: "kv" }).open();
gc();
console.log("after open", ab());
let n = 0;
const out = [];
for await (const kv of rp.entries()) {
  if (++n % 10000 === 0) {
    gc();
    out.push(`${n}:${ab()}`);
  }
}
console.log(out.join(" "));
await rp.close();
gc();
console.log("after close", ab());
