// node job.tmp.mjs '<job json>' '<env json>' [node flags...]
import { measureJob } from "./dist/measure.js";

const job = JSON.parse(process.argv[2]);
const env = JSON.parse(process.argv[3] ?? "{}");
const m = await measureJob(job, {
  scratch: `/tmp/bx/j${process.pid}`,
  timeoutMs: 600000,
  env,
  nodeArgs: process.argv.slice(4),
});
const x = m.result?.extra ?? {};
const M = (b) => (b / 1048576).toFixed(0);
console.log(
  `wall ${(m.wallMs / 1000).toFixed(2)}s cpu ${(m.cpuMs / 1000).toFixed(2)}s rss ${M(m.peakRssBytes)}MiB heapTotal ${M(x.heapTotalPeak)} heapUsed ${M(x.heapUsedPeak)} external ${M(x.externalPeak)} arrayBuffers ${M(x.arrayBuffersPeak)} keys ${m.result?.keys} archive ${M(m.result?.archiveBytes ?? 0)} ${m.error ?? ""}`,
);
