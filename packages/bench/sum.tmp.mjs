import { summarizeProfileDir } from "./dist/profile.js";
for (const t of summarizeProfileDir(process.argv[2], Number(process.argv[3] ?? 15))) {
  console.log(`== ${t.file} busy ${t.busyMs.toFixed(0)} ms of ${t.totalMs.toFixed(0)}`);
  for (const c of t.top) console.log(`${c.selfMs.toFixed(0).padStart(6)} ${(c.share*100).toFixed(1).padStart(5)}% tot ${c.totalMs.toFixed(0).padStart(6)}  ${c.frame}  <- ${c.callers.map(k=>k.frame.split(" ")[0]+" "+(k.share*100).toFixed(0)+"%").join(", ")}`);
  console.log("areas:", t.areas.map(a => `${a.area} ${(a.share*100).toFixed(1)}%`).join(", "));
}
