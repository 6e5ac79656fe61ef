import { generateDemoCluster } from "@vsnap/core";
for (const scale of [0.3, 0.5, 0.6, 1]) {
  let n=0,b=0,max=0; const h={};
  for (const kv of generateDemoCluster({ keys: 100000, seed: 1, valueScale: scale })) { n++; b+=kv.value.length; max=Math.max(max,kv.value.length); const k=kv.value.length<512?'<0.5K':kv.value.length<8192?'0.5-8K':kv.value.length<65536?'8-64K':'>64K'; h[k]=(h[k]||0)+1; }
  console.log(scale, (b/1048576).toFixed(1),'MiB', (b/n)|0, 'B/key, max', max, JSON.stringify(h));
}
