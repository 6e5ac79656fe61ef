import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** The parts of a V8 .cpuprofile (what `node --cpu-prof` writes) this summary needs. */
interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly children?: readonly number[];
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

export interface ProfileCost {
  /** `function (file:line)`, or a V8 pseudo-frame like `(garbage collector)`. */
  readonly frame: string;
  /** Where it lives: a workspace package, node_modules package, `node:` internals, or V8. */
  readonly area: string;
  readonly selfMs: number;
  /** Share of the thread's busy time. */
  readonly share: number;
  /** Time with this function anywhere on the stack (itself and what it calls). */
  readonly totalMs: number;
  /** The functions its self time was spent under, most first (up to three). */
  readonly callers: readonly { readonly frame: string; readonly share: number }[];
}

export interface ThreadProfile {
  readonly file: string;
  readonly totalMs: number;
  /** Sampled time not idle. */
  readonly busyMs: number;
  readonly top: readonly ProfileCost[];
  readonly areas: readonly { readonly area: string; readonly selfMs: number; readonly share: number }[];
}

/** Where a frame's code lives, for grouping: `@vsnap/core archive/tar.js`, `node:zlib`, `(gc)`. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /\/packages\/([^/]+)\/(?:dist|src)\/(.+?)(?:\.[jt]s)?$/.exec(url);
  if (pkg) return `@vsnap/${pkg[1]} ${pkg[2]!.split("/").slice(0, 2).join("/")}`;
  const dep = /\/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dep) return dep[1]!;
  if (url.startsWith("node:")) return url.split("/").slice(0, 2).join("/");
  return path.basename(url);
}

function frameName(frame: CpuProfile["nodes"][number]["callFrame"]): string {
  const name = frame.functionName || "(anonymous)";
  if (!frame.url) return name;
  const file = frame.url
    .replace(/^file:\/\//, "")
    .split("/")
    .slice(-2)
    .join("/");
  return `${name} (${file}:${frame.lineNumber + 1})`;
}

/** Self and total time per frame, and self time per area, of one thread's profile. */
export function summarizeProfile(profile: CpuProfile, file: string, top = 12): ThreadProfile {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const names = new Map(profile.nodes.map((n) => [n.id, frameName(n.callFrame)]));
  interface Acc {
    frame: string;
    area: string;
    self: number;
    total: number;
    callers: Map<string, number>;
  }
  const acc = new Map<string, Acc>();
  const get = (id: number): Acc => {
    const node = byId.get(id)!;
    const frame = names.get(id)!;
    let entry = acc.get(frame);
    if (!entry) {
      entry = {
        frame,
        area: areaOf(node.callFrame.url, node.callFrame.functionName),
        self: 0,
        total: 0,
        callers: new Map(),
      };
      acc.set(frame, entry);
    }
    return entry;
  };
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    const node = byId.get(id);
    if (!node) return;
    if (node.callFrame.functionName === "(idle)") {
      idle += us;
      return;
    }
    const leaf = get(id);
    leaf.self += us;
    // the nearest caller that is a different function
    let up = parent.get(id);
    while (up !== undefined && names.get(up) === leaf.frame) up = parent.get(up);
    const caller = up === undefined ? "(root)" : names.get(up)!;
    leaf.callers.set(caller, (leaf.callers.get(caller) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = names.get(at)!;
      if (seen.has(name) || name === "(root)") continue;
      seen.add(name);
      get(at).total += us;
    }
  });
  const busy = total - idle;
  const areas = new Map<string, number>();
  for (const e of acc.values()) if (e.self > 0) areas.set(e.area, (areas.get(e.area) ?? 0) + e.self);
  const share = (us: number) => (busy > 0 ? us / busy : 0);
  return {
    file: path.basename(file),
    totalMs: total / 1000,
    busyMs: busy / 1000,
    top: [...acc.values()]
      .filter((e) => e.self > 0)
      .sort((a, b) => b.self - a.self)
      .slice(0, top)
      .map((e) => ({
        frame: e.frame,
        area: e.area,
        selfMs: e.self / 1000,
        share: share(e.self),
        totalMs: e.total / 1000,
        callers: [...e.callers.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([frame, us]) => ({ frame, share: us / e.self })),
      })),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, us]) => ({ area, selfMs: us / 1000, share: share(us) })),
  };
}

/** Every thread profile `node --cpu-prof --cpu-prof-dir DIR` wrote, busiest first. */
export function summarizeProfileDir(dir: string, top = 12): ThreadProfile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => summarizeProfile(JSON.parse(readFileSync(path.join(dir, f), "utf8")) as CpuProfile, f, top))
    .sort((a, b) => b.busyMs - a.busyMs);
}
