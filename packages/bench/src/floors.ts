import { BASELINE_NAMES } from "./baselines.js";
import { type BenchResults, type FloorCheck, isVsnap, MiB, median, type Ratio, type Row } from "./results.js";

const RSS_CEILING = 150 * MiB;
const RSS_SPREAD = 0.2;
const KEYS_PER_SECOND = 50_000;
const SNAPSHOT_RATIO = 1.5;

const fmt = (n: number, digits = 2) => n.toFixed(digits);

/** How fast the machine was as a row's (median) run started, against the bench's fastest probe. */
function speedOf(results: BenchResults, r: Row, what: string): string {
  const best = results.machineSpeed?.bestProbeMs;
  const probe = r.m.probeMs;
  return best === undefined || probe === undefined
    ? ""
    : ` (${what} started at ${Math.round((best / probe) * 100)} % of the machine's best speed)`;
}

/** How a vsnap row restored, when not the plain way. */
const how = (r: Row) => (r.tool === "vsnap" ? "" : ` (${r.tool})`);

/** The issue's floors, checked against this run's figures (undefined: not measured in this run). */
export function checkFloors(results: BenchResults, ratioList: readonly Ratio[]): FloorCheck[] {
  const checks: FloorCheck[] = [];
  const vsnap = results.rows.filter((r) => isVsnap(r) && !r.m.error);
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

  // 2. restore at least as fast as the snapshot, same data and store: for each, vsnap's fastest
  // way back (an etcd archive also restores into a new etcd data dir, the embedded-etcd case)
  const groups = new Map<string, Row[]>();
  for (const restore of vsnap.filter((r) => r.op === "restore")) {
    const id = `${restore.size}|${restore.backing}|${restore.store}`;
    groups.set(id, [...(groups.get(id) ?? []), restore]);
  }
  const misses: string[] = [];
  const slower: string[] = [];
  let compared = 0;
  for (const restores of groups.values()) {
    const first = restores[0]!;
    const snap = vsnap.find(
      (r) =>
        r.op === "snapshot" &&
        r.tool === "vsnap" &&
        r.size === first.size &&
        r.backing === first.backing &&
        r.store === first.store,
    );
    if (!snap) continue;
    compared++;
    // the snapshot runs that alternated with the restores, when there were such
    const snapMs = snap.alternated ? median(snap.alternated) : snap.m.wallMs;
    const best = restores.reduce((a, b) => (b.m.wallMs < a.m.wallMs ? b : a));
    const describe = (r: Row) =>
      `${r.size} ${r.backing} via ${r.store}${how(r)}: restore ${fmt(r.m.wallMs / 1000, 2)} s vs snapshot ${fmt(snapMs / 1000, 2)} s${speedOf(results, r, "the restore")}`;
    if (best.m.wallMs > snapMs) misses.push(describe(best));
    for (const r of restores) if (r !== best && r.m.wallMs > snapMs) slower.push(describe(r));
  }
  checks.push({
    floor:
      "restore at least as fast as the snapshot (same data, same store; vsnap's fastest way back for each)",
    measured:
      compared === 0
        ? "not measured"
        : `${compared - misses.length} of ${compared} as fast or faster${misses.length > 0 ? `; slower: ${misses.join("; ")}` : ""}${slower.length > 0 ? `. Slower other ways back: ${slower.join("; ")}` : ""}`,
    pass: compared === 0 ? undefined : misses.length === 0,
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
      ? `max ${fmt(worst.m.peakRssBytes! / MiB, 0)} MiB (${worst.size}, ${worst.op} ${worst.backing} via ${worst.store}${how(worst)})`
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
        (r) =>
          r.size === small &&
          r.op === b.op &&
          r.tool === b.tool &&
          r.backing === b.backing &&
          r.store === b.store,
      );
      if (!a) continue;
      const spread =
        Math.abs(b.m.peakRssBytes! - a.m.peakRssBytes!) / Math.min(a.m.peakRssBytes!, b.m.peakRssBytes!);
      if (spread > worstSpread) {
        worstSpread = spread;
        worstWhat = `${b.op} ${b.backing} via ${b.store}${how(b)}: ${fmt(a.m.peakRssBytes! / MiB, 0)} → ${fmt(b.m.peakRssBytes! / MiB, 0)} MiB`;
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
                  `${r.size} ${r.op} ${r.backing} via ${r.store}${how(r)}: ${r.m.tempBytes} B${r.m.leftovers.length ? ` (left: ${r.m.leftovers.join(", ")})` : ""}`,
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
      ? kv
          .map(
            (r) =>
              `${r.size}: ${fmt(keysPerSecond(results, r) / 1000, 1)}k keys/s${speedOf(results, r, "its median run")}`,
          )
          .join(", ")
      : "not measured",
    pass: slowest ? keysPerSecond(results, slowest) >= KEYS_PER_SECOND : undefined,
  });
  return checks;
}

export function keysPerSecond(results: BenchResults, row: { size: string; m: { wallMs: number } }): number {
  const keys = results.datasets.find((d) => d.label === row.size)?.keys ?? 0;
  return row.m.wallMs > 0 ? keys / (row.m.wallMs / 1000) : 0;
}
