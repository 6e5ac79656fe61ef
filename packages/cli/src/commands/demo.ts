import { createHash } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { createKineDatabase, sqliteSource, sqliteTarget } from "@vsnap/backing-sqlite";
import {
  generateDemoCluster,
  type KeyValue,
  restoreSnapshot,
  takeSnapshot,
  VsnapError,
  verifySnapshot,
} from "@vsnap/core";
import type { Command } from "../command.js";
import { formatBytes, formatCount } from "../output.js";
import { progressLine } from "../progress-text.js";
import { TOOL_VERSION } from "../version.js";

export const demo: Command = {
  path: ["demo"],
  summary: "Run the whole cycle on an embedded demo cluster (no cluster needed)",
  usage: "vsnap demo [--dir DIR] [--keys N]",
  description:
    "Creates a kine-schema SQLite backing store holding a realistic virtual cluster, snapshots it to a\n" +
    "container:// archive, verifies the archive, restores it into a fresh SQLite file and proves that\n" +
    "both stores hold the same keys and values.",
  options: {
    dir: { type: "string", valueName: "DIR", description: "working directory (default ./vsnap-demo)" },
    keys: {
      type: "string",
      valueName: "N",
      description: "number of keys in the demo cluster (default 6000)",
    },
  },
  examples: ["vsnap demo", "vsnap demo --dir /tmp/demo --keys 100000"],
  arity: [0, 0],
  async run({ options, out, registry, env, cwd, signal }) {
    const dir = path.resolve(cwd, typeof options.dir === "string" ? options.dir : "vsnap-demo");
    const keys = typeof options.keys === "string" ? Number.parseInt(options.keys, 10) : 6000;
    if (!Number.isInteger(keys) || keys < 1)
      throw new VsnapError("INVALID_ARGUMENT", `--keys must be a positive integer, got "${options.keys}"`);
    mkdirSync(dir, { recursive: true });
    const sourceFile = path.join(dir, "state.db");
    const restoredFile = path.join(dir, "restored.db");
    for (const file of [sourceFile, restoredFile])
      for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
    const url = `container://${path.join(dir, "snapshots", "demo.tar.gz")}`;
    const steps: { step: string; detail: string; seconds: number }[] = [];
    const timed = async <T>(step: string, work: () => Promise<T>, detail: (r: T) => string): Promise<T> => {
      const started = Date.now();
      const result = await work();
      const seconds = (Date.now() - started) / 1000;
      steps.push({ step, detail: detail(result), seconds });
      out.info(`✔ ${step}: ${detail(result)} (${seconds.toFixed(2)}s)`);
      return result;
    };

    const created = await timed(
      "create demo cluster",
      () => createKineDatabase(sourceFile, generateDemoCluster({ keys })),
      (r) => `${formatCount(r.keys)} keys, ${formatBytes(r.bytes)} in ${sourceFile}`,
    );
    const { store, location } = await registry().open(url, { env });
    const progress = out.progress();
    try {
      const started = Date.now();
      const snap = await timed(
        "snapshot",
        () =>
          takeSnapshot({
            source: sqliteSource(sourceFile),
            store,
            key: location.key,
            toolVersion: TOOL_VERSION,
            signal,
            onProgress: (p) => progress.update(() => progressLine(p, started)),
          }),
        (r) =>
          `${formatCount(r.manifest.keys)} keys, ${formatBytes(r.manifest.bytes)} -> ${formatBytes(r.info.size)} archive at ${location.display}`,
      );
      progress.done();
      const summary = await timed(
        "verify",
        () => verifySnapshot({ store, key: location.key, signal }),
        (s) =>
          `${s.verified ? "manifest digest matches" : "NOT verified"} (sha256 ${s.sha256.slice(0, 16)}…)`,
      );
      if (!summary.verified) throw new VsnapError("INTEGRITY", "the demo archive did not verify");
      await timed(
        "restore",
        () =>
          restoreSnapshot({
            store,
            key: location.key,
            target: sqliteTarget(restoredFile, { force: true }),
            signal,
          }),
        (r) => `${formatCount(r.result.keys)} keys into ${restoredFile}, revision ${r.result.revision}`,
      );
      const comparison = await timed(
        "compare",
        () => compareStores(sourceFile, restoredFile),
        (c) =>
          c.equal
            ? `identical: ${formatCount(c.keys)} keys, sha256 ${c.digest.slice(0, 16)}…`
            : `DIFFERENT: ${c.difference}`,
      );
      if (!comparison.equal)
        throw new VsnapError("INTEGRITY", `restored store differs from the source: ${comparison.difference}`);
      out.result(
        {
          source: sourceFile,
          restored: restoredFile,
          archive: location.display,
          keys: snap.manifest.keys,
          bytes: snap.manifest.bytes,
          archiveBytes: snap.info.size,
          revision: snap.manifest.revision,
          generated: created,
          identical: comparison.equal,
          steps,
        },
        () => ({
          headers: ["STEP", "RESULT", "TIME"],
          rows: steps.map((s) => [s.step, s.detail, `${s.seconds.toFixed(2)}s`]),
        }),
      );
      return 0;
    } finally {
      progress.done();
      await store.close();
    }
  },
};

/** Walks both stores' live views in key order and compares every key and value. */
async function compareStores(
  a: string,
  b: string,
): Promise<{ equal: boolean; keys: number; digest: string; difference?: string }> {
  const [left, right] = await Promise.all([sqliteSource(a).open(), sqliteSource(b).open()]);
  try {
    if (left.mode !== "kv" || right.mode !== "kv")
      throw new VsnapError("INTERNAL", "sqlite sources are key/value");
    const li = left.entries()[Symbol.asyncIterator]();
    const ri = right.entries()[Symbol.asyncIterator]();
    const hash = createHash("sha256");
    let keys = 0;
    for (;;) {
      const [l, r] = await Promise.all([li.next(), ri.next()]);
      if (l.done || r.done) {
        if (l.done && r.done) return { equal: true, keys, digest: hash.digest("hex") };
        const extra = (l.done ? r.value : l.value) as KeyValue;
        return {
          equal: false,
          keys,
          digest: "",
          difference: `${l.done ? "restored" : "source"} has extra key ${extra.key}`,
        };
      }
      if (l.value.key !== r.value.key)
        return { equal: false, keys, digest: "", difference: `key ${l.value.key} vs ${r.value.key}` };
      if (Buffer.compare(Buffer.from(l.value.value), Buffer.from(r.value.value)) !== 0) {
        return { equal: false, keys, digest: "", difference: `value of ${l.value.key} differs` };
      }
      hash.update(l.value.key).update(l.value.value);
      keys++;
    }
  } finally {
    await Promise.all([left.close(), right.close()]);
  }
}
