import { generateDemoCluster } from "@vsnap/core";

let n = 0;
const sizes = [];
for (const kv of generateDemoCluster({ keys: 100000, seed: 1 })) {
  if (kv.value.length > 200000) sizes.push(`${n} ${kv.key} ${kv.value.length}`);
  n++;
}
console.log(sizes.length);
console.log(sizes.slice(0, 30).join("\n"));
