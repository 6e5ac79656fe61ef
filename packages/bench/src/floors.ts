import { BASELINE_NAMES } from "./baselines.js";
import { type BenchResults, type FloorCheck, MiB, type Ratio } from "./results.js";

const RSS_CEILING = 150 * MiB;
const RSS_SPREAD = 0.2;
const KEYS_PER_SECOND = 50_000;
const SNAPSHOT_RATIO = 1.5;

const fmt = (n: number, digits = 2) => n.toFixed(digits);

/** The issue's floors, checked against this run's figures (undefined: not measured in this run). */
export function checkFloors(results: BenchResults, ratioList: readonly Ratio[]): FloorCheck[] {
  const checks: FloorCheck[] = [];
  const vsnap = results.rows.filter((r) => r.tool === "vsnap" && !r.m.error);
  const largest = [...results.datasets].sort((a, b) => b.keys - a.keys)[0];

  // 1. snapshot throughput vs etcdctl + gzip -3, on the largest etcd store, to container://
  const headline = ratioList.filter(
    (r) =>
      r.size === largest?.label &&
      r.store === "container" &&
      r.baseline === BASELINE_NAMES.etcd &&
      r.backing.startsWith("etcd"),
  );
  for (const mode of ["etcd kv", "etcd db"] as const) {
    const r = headline.find((h) => h.backing === mode);
    checks.push({
      floor: `${largest?.label ?? "largest"} etcd (${mode === "etcd kv" ? "key/value, the default" : "db mode"}) → container:// ≥ ${SNAPSHOT_RATIO}× the throughput of \`etcdctl snapshot save\` + \`gzip -3\``,
      measured: r
        ? `${fmt(r.ratio)}× (${fmt(r.vsnapMs / 1000, 1)} s vs ${fmt(r.baselineMs / 1000, 1)} s)`
        : "not measured",
      pass: r ? r.ratio >= SNAPSHOT_RATIO : undefined,
    });
  }

  // 2. restore at least as fast as the snapshot, same data and store
  const pairs: string[] = [];
  let slow = 0;
  for (const restore of vsnap.filter((r) => r.op === "restore")) {
    const snap = vsnap.find(
      (r) =>
        r.op === "snapshot" &&
        r.size === restore.size &&
        r.backing === restore.backing &&
        r.store === restore.store,
    );
    if (!snap) continue;
    const ratio = snap.m.wallMs / restore.m.wallMs;
    if (ratio < 1) {
      slow++;
      pairs.push(
        `${restore.size} ${restore.backing} via ${restore.store}: restore ${fmt(restore.m.wallMs / 1000, 1)} s vs snapshot ${fmt(snap.m.wallMs / 1000, 1)} s`,
      );
    }
  }
  const restoreCount = vsnap.filter((r) => r.op === "restore").length;
  checks.push({
    floor: "restore at least as fast as the snapshot (same data, same store)",
    measured:
      restoreCount === 0
        ? "not measured"
        : slow === 0
          ? `all ${restoreCount} restores`
          : `${slow} of ${restoreCount} slower: ${pairs.join("; ")}`,
    pass: restoreCount === 0 ? undefined : slow === 0,
  });

  // 3. peak RSS ceiling
  const rss = vsnap.filter((r) => r.m.peakRssBytes !== undefined);
  const worst = rss.reduce<(typeof rss)[number] | undefined>(
    (w, r) => (!w || r.m.peakRssBytes! > w.m.peakRssBytes! ? r : w),
    undefined,
  );
  checks.push({
    floor: "peak RSS ≤ 150 MiB at every size (snapshot and restore)",
    measured: worst
      ? `max ${fmt(worst.m.peakRssBytes! / MiB, 0)} MiB (${worst.size}, ${worst.op} ${worst.backing} via ${worst.store})`
      : "not measured",
    pass: worst ? worst.m.peakRssBytes! <= RSS_CEILING : undefined,
  });

  // 4. RSS independent of size: smallest vs largest dataset of this run
  const bySize = [...results.datasets].sort((a, b) => a.keys - b.keys);
  if (bySize.length >= 2) {
    const small = bySize[0]!.label;
    const big = bySize[bySize.length - 1]!.label;
    let worstSpread = 0;
    let worstWhat = "";
    for (const b of rss.filter((r) => r.size === big)) {
      const a = rss.find(
        (r) => r.size === small && r.op === b.op && r.backing === b.backing && r.store === b.store,
      );
      if (!a) continue;
      const spread =
        Math.abs(b.m.peakRssBytes! - a.m.peakRssBytes!) / Math.min(a.m.peakRssBytes!, b.m.peakRssBytes!);
      if (spread > worstSpread) {
        worstSpread = spread;
        worstWhat = `${b.op} ${b.backing} via ${b.store}: ${fmt(a.m.peakRssBytes! / MiB, 0)} → ${fmt(b.m.peakRssBytes! / MiB, 0)} MiB`;
      }
    }
    checks.push({
      floor: `peak RSS differs < 20 % between ${small} and ${big}`,
      measured: worstWhat
        ? `largest difference ${fmt(worstSpread * 100, 0)} % (${worstWhat})`
        : "not measured",
      pass: worstWhat ? worstSpread < RSS_SPREAD : undefined,
    });
  }

  // 5. zero temp disk
  const temp = vsnap.filter((r) => r.m.tempBytes > 0 || r.m.leftovers.length > 0);
  checks.push({
    floor:
      "zero temp-disk bytes on every store ($TMPDIR and working dir of every vsnap run, nothing left behind)",
    measured:
      vsnap.length === 0
        ? "not measured"
        : temp.length === 0
          ? `0 bytes in all ${vsnap.length} vsnap runs`
          : temp
              .map(
                (r) =>
                  `${r.size} ${r.op} ${r.backing} via ${r.store}: ${r.m.tempBytes} B${r.m.leftovers.length ? ` (left: ${r.m.leftovers.join(", ")})` : ""}`,
              )
              .join("; "),
    pass: vsnap.length === 0 ? undefined : temp.length === 0,
  });

  // 6. key/value snapshots from etcd
  const kv = vsnap.filter((r) => r.op === "snapshot" && r.backing === "etcd kv" && r.store === "container");
  const slowest = kv.reduce<(typeof kv)[number] | undefined>(
    (w, r) => (!w || keysPerSecond(results, r) < keysPerSecond(results, w) ? r : w),
    undefined,
  );
  checks.push({
    floor: `≥ ${KEYS_PER_SECOND / 1000}k keys/s from etcd (key/value snapshot, paged reads at a pinned revision)`,
    measured: slowest
      ? kv.map((r) => `${r.size}: ${fmt(keysPerSecond(results, r) / 1000, 1)}k keys/s`).join(", ")
      : "not measured",
    pass: slowest ? keysPerSecond(results, slowest) >= KEYS_PER_SECOND : undefined,
  });
  return checks;
}

export function keysPerSecond(results: BenchResults, row: { size: string; m: { wallMs: number } }): number {
  const keys = results.datasets.find((d) => d.label === row.size)?.keys ?? 0;
  return row.m.wallMs > 0 ? keys / (row.m.wallMs / 1000) : 0;
}
