import { EtcdClient, etcdSource } from "@vsnap/backing-etcd";

const orig = EtcdClient.prototype.range;
const pages = [];
EtcdClient.prototype.range = async function (req, ctx) {
  const r = await orig.call(this, req, ctx);
  let b = 0;
  for (const kv of r.kvs) b += kv.value.length + kv.key.length;
  pages.push(`${req.limit}:${r.kvs.length}:${(b / 1048576).toFixed(1)}`);
  return r;
};
const rp = await etcdSource({ endpoints: process.argv[2], mode: "kv" }).open();
for await (const kv of rp.entries()) {
}
await rp.close();
console.log(pages.length, "pages (limit:keys:MiB):", pages.join(" "));
