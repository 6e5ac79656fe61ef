import { generateDemoCluster } from "@vsnap/core";

let n = 0,
  w = 0,
  rows = [],
  big = 0;
let firstKey = "";
for (const kv of generateDemoCluster({ keys: 100000, seed: 1 })) {
  if (n % 1000 === 0) firstKey = kv.key;
  w += kv.value.length;
  n++;
  if (n % 1000 === 0) {
    if (w > 3 * 1048576) rows.push(`${n - 1000}-${n} ${(w / 1048576).toFixed(1)}MiB ${firstKey}`);
    w = 0;
  }
}
console.log(rows.join("\n"));
