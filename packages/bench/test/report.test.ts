import { describe, expect, it } from "vitest";
import { BASELINE_NAMES } from "../src/baselines.js";
import { checkFloors } from "../src/floors.js";
import type { Measurement } from "../src/measure.js";
import { extractNotes, NOTES_END, NOTES_START, renderReport } from "../src/report.js";
import { type BenchResults, MiB, type Row, ratios } from "../src/results.js";

const m = (wallMs: number, peakMiB: number, extra: Partial<Measurement> = {}): Measurement => ({
  wallMs,
  peakRssBytes: peakMiB * MiB,
  cpuMs: wallMs * 1.8,
  tempBytes: 0,
  besideBytes: 0,
  transient: [],
  outputBytes: 10 * MiB,
  leftovers: [],
  ...extra,
});

function results(rows: Row[]): BenchResults {
  return {
    startedAt: "2026-11-25T12:00:00.000Z",
    finishedAt: "2026-11-25T12:10:00.000Z",
    durationMs: 600_000,
    quick: false,
    machine: {
      cpuModel: "Test CPU",
      cpus: 2,
      memoryGiB: 24,
      os: "Linux",
      loadBefore: [0, 0, 0],
      tools: { node: "v24" },
    },
    loadAfter: [0, 0, 0],
    versions: {},
    notes: [],
    skipped: [],
    datasets: [
      { label: "100k keys", keys: 100_000, valueBytes: 200 * MiB, largestValue: 900_000 },
      { label: "1M keys", keys: 1_000_000, valueBytes: 2000 * MiB, largestValue: 900_000 },
    ],
    rows,
  };
}

const row = (
  size: string,
  backing: Row["backing"],
  store: string,
  tool: string,
  op: Row["op"],
  measurement: Measurement,
): Row => ({
  size,
  backing,
  store,
  tool,
  op,
  m: measurement,
});

const baselineFor = (r: Row) => [
  { tool: r.backing === "sqlite" ? BASELINE_NAMES.sqlite : BASELINE_NAMES.etcd, store: "file" },
];

describe("ratios and floors", () => {
  const rows = [
    row("100k keys", "etcd kv", "container", "vsnap", "snapshot", m(2_000, 100)),
    row("100k keys", "etcd kv", "container", "vsnap", "restore", m(1_500, 110)),
    row("100k keys", "etcd", "file", BASELINE_NAMES.etcd, "snapshot", m(4_000, 30)),
    row("1M keys", "etcd kv", "container", "vsnap", "snapshot", m(10_000, 115)),
    row(
      "1M keys",
      "etcd kv",
      "container",
      "vsnap",
      "restore",
      m(12_000, 160, { tempBytes: 4096, leftovers: ["$TMPDIR/x"] }),
    ),
    row("1M keys", "etcd", "file", BASELINE_NAMES.etcd, "snapshot", m(20_000, 30)),
  ];
  const r = results(rows);
  const list = ratios(rows, baselineFor);
  const floors = checkFloors(r, list);
  const byName = (text: string) => floors.find((f) => f.floor.includes(text))!;

  it("compares each vsnap snapshot with its baseline on the same data", () => {
    expect(list.map((x) => [x.size, x.ratio])).toEqual([
      ["100k keys", 2],
      ["1M keys", 2],
    ]);
  });

  it("checks every floor from the figures", () => {
    expect(byName("key/value, the default").pass).toBe(true);
    expect(byName("db mode").pass).toBeUndefined();
    expect(byName("restore at least as fast").pass).toBe(false);
    expect(byName("≤ 150 MiB").pass).toBe(false);
    expect(byName("differs < 20 %").measured).toMatch(/45 %/);
    expect(byName("zero temp-disk").measured).toMatch(/\$TMPDIR\/x/);
    expect(byName("keys/s").measured).toBe("100k keys: 50.0k keys/s, 1M keys: 100.0k keys/s");
    expect(byName("keys/s").pass).toBe(true);
  });

  it("compares a restore with the snapshot runs it alternated with, not with runs added later", () => {
    const restoreFloor = (snapshot: Row) =>
      checkFloors(
        results([snapshot, row("100k keys", "sqlite", "container", "vsnap", "restore", m(2_100, 100))]),
        [],
      ).find((f) => f.floor.startsWith("restore at least"))!;
    // alternated: 2.3, 2.2, 2.0 s (median 2.2); two faster runs later made the row's median 2.0 s
    const snapshot = {
      ...row("100k keys", "sqlite", "container", "vsnap", "snapshot", m(2_000, 90)),
      walls: [2_300, 2_200, 2_000, 1_700, 1_600],
      alternated: [2_300, 2_200, 2_000],
    };
    expect(restoreFloor(snapshot).pass).toBe(true);
    const { alternated: _, ...unpaired } = snapshot;
    expect(restoreFloor(unpaired).pass).toBe(false);
    expect(restoreFloor(unpaired).measured).toContain("restore 2.10 s vs snapshot 2.00 s");
  });

  it("says how fast the machine was as a floor's runs started", () => {
    const timed = results([
      row("100k keys", "etcd kv", "container", "vsnap", "snapshot", m(2_000, 100, { probeMs: 25 })),
    ]);
    const withSpeed = { ...timed, machineSpeed: { bestProbeMs: 20, median: 0.9, slowest: 0.7, fastest: 1 } };
    const keys = checkFloors(withSpeed, []).find((f) => f.floor.includes("keys/s"))!;
    expect(keys.measured).toBe(
      "100k keys: 50.0k keys/s (its median run started at 80 % of the machine's best speed)",
    );
    expect(renderReport(withSpeed, [], undefined)).toContain(
      "the runs started at 90 % of that speed (median; from 70 % to 100 %)",
    );
  });

  it("renders the report and keeps hand-written notes across runs", () => {
    const first = renderReport(r, list, undefined);
    expect(first).toContain("**2 CPUs**");
    expect(first).toContain(
      "| 1M keys | etcd kv | container | etcdctl snapshot save + gzip -3 | 10.0 | 20.0 | 2.00× |",
    );
    const edited = first.replace(
      /(<!-- notes:start[^>]*-->)\n[^\n]*\n/,
      `$1\nThe compressor is the top cost.\n`,
    );
    const notes = extractNotes(edited);
    expect(notes?.trim()).toBe("The compressor is the top cost.");
    const second = renderReport(r, list, notes);
    expect(second).toContain(`${NOTES_START}\nThe compressor is the top cost.\n${NOTES_END}`);
  });
});
