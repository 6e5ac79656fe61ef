import { describe, expect, it } from "vitest";
import { areaOf, summarizeProfile } from "../src/profile.js";

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });

// root -> main -> [hash (leaf), tar -> concat (leaf)]; idle beside
const profile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 6] },
    {
      id: 2,
      callFrame: frame("main", "file:///r/packages/core/dist/archive/writer.js", 10),
      children: [3, 4],
    },
    { id: 3, callFrame: frame("update", "node:internal/crypto/hash", 145), children: [] },
    {
      id: 4,
      callFrame: frame("writeFileHeader", "file:///r/packages/core/dist/archive/tar.js", 99),
      children: [5],
    },
    { id: 5, callFrame: frame("concat", "node:buffer", 627), children: [] },
    { id: 6, callFrame: frame("(idle)"), children: [] },
  ],
  samples: [3, 3, 5, 5, 5, 2, 6, 6],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 5000, 5000],
  startTime: 0,
  endTime: 16000,
};

describe("summarizeProfile", () => {
  const summary = summarizeProfile(profile, "/x/CPU.1.cpuprofile");

  it("separates idle time from busy time", () => {
    expect(summary.totalMs).toBe(16);
    expect(summary.busyMs).toBe(6);
  });

  it("ranks functions by self time and knows their callers and total time", () => {
    expect(summary.top.map((c) => c.frame.split(" ")[0])).toEqual(["concat", "update", "main"]);
    const concat = summary.top[0]!;
    expect(concat.selfMs).toBe(3);
    expect(concat.share).toBeCloseTo(0.5);
    expect(concat.callers[0]?.frame).toMatch(/^writeFileHeader/);
    const main = summary.top.find((c) => c.frame.startsWith("main"))!;
    expect(main.selfMs).toBe(1);
    expect(main.totalMs).toBe(6);
  });

  it("adds self time up per area", () => {
    expect(summary.areas[0]).toMatchObject({ area: "node:buffer", selfMs: 3 });
  });
});

describe("areaOf", () => {
  it("names workspace packages, dependencies and node internals", () => {
    expect(areaOf("file:///w/packages/backing-etcd/dist/grpc/messages.js", "decode")).toBe(
      "@vsnap/backing-etcd grpc/messages",
    );
    expect(
      areaOf(
        "file:///w/node_modules/.pnpm/@grpc+grpc-js@1.14.7/node_modules/@grpc/grpc-js/build/src/x.js",
        "f",
      ),
    ).toBe("@grpc/grpc-js");
    expect(areaOf("node:internal/streams/readable", "read")).toBe("node:internal/streams");
    expect(areaOf("", "(garbage collector)")).toBe("(garbage collector)");
  });
});
