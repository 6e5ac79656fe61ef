/**
 * One measured operation, run by driver.js in a process of its own: it does one thing (generate,
 * load, snapshot, restore, verify) and writes a JobResult with its own peak RSS and CPU time. It
 * runs the same public pipeline a user's `vsnap` would.
 */
import { readFileSync, writeFileSync } from "node:fs";
import {
  type ArchiveManifest,
  type KeyValue,
  manifestAnnotations,
  PluginRegistry,
  type RestoreTarget,
  restoreSnapshot,
  type SnapshotSource,
  type Store,
  takeSnapshot,
  verifySnapshot,
  writeArchive,
} from "@vsnap/core";
import { compressFile } from "./compressors.js";
import type { CompressionSpec, Job, JobResult, SourceSpec, StoreSpec, TargetSpec } from "./jobs.js";
import { loadDemoGenerator, loadSqliteBacking, loadStorePlugin } from "./optional.js";
import { ownPeakRss } from "./proc.js";

const TOOL_VERSION = "0.1.0-bench";

interface Outcome {
  readonly keys: number;
  readonly bytes: number;
  readonly archiveBytes: number;
  readonly extra?: Readonly<Record<string, number | string | boolean>>;
}

async function main(): Promise<void> {
  const [jobFile, resultFile] = process.argv.slice(2);
  if (!jobFile || !resultFile) throw new Error("usage: driver.js JOB.json RESULT.json");
  const job = JSON.parse(readFileSync(jobFile, "utf8")) as Job;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Where the resident memory is: V8's heap, or Buffers/ArrayBuffers outside it (sampled peaks).
  const peaks = { heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  const sampler = setInterval(() => {
    const u = process.memoryUsage();
    peaks.heapTotal = Math.max(peaks.heapTotal, u.heapTotal);
    peaks.heapUsed = Math.max(peaks.heapUsed, u.heapUsed);
    peaks.external = Math.max(peaks.external, u.external);
    peaks.arrayBuffers = Math.max(peaks.arrayBuffers, u.arrayBuffers);
  }, 50);
  sampler.unref();
  let outcome: Outcome | undefined;
  let error: string | undefined;
  try {
    outcome = await run(job);
  } catch (e) {
    error =
      e instanceof Error
        ? `${e.message}${(e as { hint?: string }).hint ? ` (${(e as { hint?: string }).hint})` : ""}`
        : String(e);
  }
  const opMs = performance.now() - t0;
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  const result: JobResult = {
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
    opMs,
    keys: outcome?.keys ?? 0,
    bytes: outcome?.bytes ?? 0,
    archiveBytes: outcome?.archiveBytes ?? 0,
    peakRssBytes: ownPeakRss(),
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    extra: {
      ...outcome?.extra,
      heapTotalPeak: peaks.heapTotal,
      heapUsedPeak: peaks.heapUsed,
      externalPeak: peaks.external,
      arrayBuffersPeak: peaks.arrayBuffers,
    },
  };
  writeFileSync(resultFile, JSON.stringify(result));
  if (error !== undefined) process.exitCode = 1;
}

async function run(job: Job): Promise<Outcome> {
  switch (job.op) {
    case "generate-sqlite": {
      const sqlite = await required(loadSqliteBacking());
      const counted = countEntries(await demoEntries(job.keys, job.seed));
      await sqlite.createKineDatabase(job.file, counted.entries);
      return {
        keys: counted.keys(),
        bytes: counted.bytes(),
        archiveBytes: 0,
        extra: { largest: counted.largest() },
      };
    }
    case "load-etcd": {
      const counted = countEntries(await demoEntries(job.keys, job.seed));
      // Plain batched puts, several transactions in flight; no revision bump, read-back or compaction.
      const { etcdTarget } = await import("@vsnap/backing-etcd");
      const target = etcdTarget({ endpoints: job.endpoint, concurrency: 8, verify: false, compact: false });
      await target.restore(counted.entries, {});
      return {
        keys: counted.keys(),
        bytes: counted.bytes(),
        archiveBytes: 0,
        extra: { largest: counted.largest() },
      };
    }
    case "snapshot":
      return snapshot(await openSource(job.source), await openStore(job.store), job.compression);
    case "restore": {
      const { store, key } = await openStore(job.store);
      if (job.target.kind === "etcd-data-dir") {
        try {
          const { restoreEtcdDatabaseFromArchive } = await import("@vsnap/backing-etcd");
          const object = await store.get(key);
          const restored = await restoreEtcdDatabaseFromArchive(object.body, {
            dataDir: job.target.dataDir,
            name: "n1",
            initialAdvertisePeerUrls: `http://127.0.0.1:${job.target.peerPort}`,
          });
          return {
            keys: restored.keys ?? restored.archive.keys,
            bytes: restored.archive.bytes,
            archiveBytes: restored.archive.compressedBytes,
          };
        } finally {
          await store.close();
        }
      }
      try {
        const { summary, result } = await restoreSnapshot({
          store,
          key,
          target: await openTarget(job.target),
          force: true,
        });
        return { keys: result.keys, bytes: result.bytes, archiveBytes: summary.compressedBytes };
      } finally {
        await store.close();
      }
    }
    case "read":
      return readOnly(await openSource(job.source));
    case "archive":
      return archiveOnly(await openSource(job.source), job.compression);
    case "compress": {
      const run = await compressFile(job.file, job.design, job.level, job.blockSize);
      return { keys: 0, bytes: run.inputBytes, archiveBytes: run.outputBytes };
    }
    case "verify": {
      const { store, key } = await openStore(job.store);
      try {
        const summary = await verifySnapshot({ store, key });
        return {
          keys: summary.keys,
          bytes: summary.bytes,
          archiveBytes: summary.compressedBytes,
          extra: { verified: summary.verified },
        };
      } finally {
        await store.close();
      }
    }
  }
}

async function snapshot(
  source: SnapshotSource,
  { store, key }: { store: Store; key: string },
  compression: CompressionSpec | undefined,
): Promise<Outcome> {
  try {
    if (compression?.mode === undefined && compression?.blockSize === undefined) {
      // What `vsnap snapshot` runs.
      const { info, manifest } = await takeSnapshot({
        source,
        store,
        key,
        toolVersion: TOOL_VERSION,
        ...(compression?.level === undefined ? {} : { compressionLevel: compression.level }),
      });
      return { keys: manifest.keys, bytes: manifest.bytes, archiveBytes: info.size };
    }
    // takeSnapshot does not expose the compressor's mode and member size: the same pipeline, spelled out.
    const readPoint = await source.open();
    try {
      const { stream, done } = writeArchive({
        readPoint,
        toolVersion: TOOL_VERSION,
        ...(compression.level === undefined ? {} : { compressionLevel: compression.level }),
        ...(compression.mode === undefined ? {} : { compression: compression.mode }),
        ...(compression.blockSize === undefined ? {} : { blockSize: compression.blockSize }),
      });
      done.catch(() => {});
      let manifest: ArchiveManifest | undefined;
      async function* body(): AsyncIterable<Uint8Array> {
        yield* stream;
        manifest = await done;
      }
      const info = await store.put(key, body(), {
        annotations: () => (manifest ? manifestAnnotations(manifest) : {}),
      });
      const final = await done;
      return { keys: final.keys, bytes: final.bytes, archiveBytes: info.size };
    } finally {
      await readPoint.close();
    }
  } finally {
    await store.close();
  }
}

// Backing packages are imported only when used, as a CLI would: a SQLite run does not pay for gRPC.
async function readOnly(source: SnapshotSource): Promise<Outcome> {
  const readPoint = await source.open();
  try {
    let keys = 0;
    let bytes = 0;
    if (readPoint.mode === "kv") {
      for await (const { value } of readPoint.entries(undefined, { transient: true })) {
        keys++;
        bytes += value.length;
      }
    } else {
      // as the archive writer reads it: each chunk may be freed once the next is asked for
      const { chunks } = await readPoint.database(undefined, { transient: true });
      for await (const chunk of chunks) bytes += chunk.length;
    }
    return { keys, bytes, archiveBytes: 0 };
  } finally {
    await readPoint.close();
  }
}

async function archiveOnly(
  source: SnapshotSource,
  compression: CompressionSpec | undefined,
): Promise<Outcome> {
  const readPoint = await source.open();
  try {
    const { stream, done } = writeArchive({
      readPoint,
      toolVersion: TOOL_VERSION,
      ...(compression?.level === undefined ? {} : { compressionLevel: compression.level }),
      ...(compression?.mode === undefined ? {} : { compression: compression.mode }),
      ...(compression?.blockSize === undefined ? {} : { blockSize: compression.blockSize }),
    });
    done.catch(() => {});
    let archiveBytes = 0;
    for await (const chunk of stream as AsyncIterable<Uint8Array>) archiveBytes += chunk.length;
    const manifest = await done;
    return { keys: manifest.keys, bytes: manifest.bytes, archiveBytes };
  } finally {
    await readPoint.close();
  }
}

async function openSource(spec: SourceSpec): Promise<SnapshotSource> {
  if (spec.kind === "etcd") {
    const { etcdSource } = await import("@vsnap/backing-etcd");
    return etcdSource({
      endpoints: spec.endpoint,
      mode: spec.mode,
      ...(spec.pageBytes === undefined ? {} : { pageBytes: spec.pageBytes }),
      ...(spec.pageSize === undefined ? {} : { pageSize: spec.pageSize }),
    });
  }
  return (await required(loadSqliteBacking())).sqliteSource(spec.file);
}

async function openTarget(spec: Exclude<TargetSpec, { kind: "etcd-data-dir" }>): Promise<RestoreTarget> {
  if (spec.kind === "etcd")
    return (await import("@vsnap/backing-etcd")).etcdTarget({ endpoints: spec.endpoint }, { force: true });
  return (await required(loadSqliteBacking())).sqliteTarget(spec.file, { force: true });
}

async function openStore(spec: StoreSpec): Promise<{ store: Store; key: string }> {
  const plugin = await required(loadStorePlugin(spec.plugin));
  const { store, location } = await PluginRegistry.of(plugin).open(spec.url, {
    env: { ...process.env, ...spec.env },
  });
  return { store, key: location.key };
}

async function demoEntries(keys: number, seed: number): Promise<AsyncIterable<KeyValue>> {
  const demo = await required(loadDemoGenerator());
  const entries = demo.generateDemoCluster({ keys, seed });
  return (async function* () {
    yield* entries;
  })();
}

/** Passes entries through while counting them, so the dataset's size is known without a second pass. */
function countEntries(source: AsyncIterable<KeyValue>) {
  let keys = 0;
  let bytes = 0;
  let largest = 0;
  const entries = (async function* () {
    for await (const entry of source) {
      keys++;
      bytes += entry.value.length;
      if (entry.value.length > largest) largest = entry.value.length;
      yield entry;
    }
  })();
  return { entries, keys: () => keys, bytes: () => bytes, largest: () => largest };
}

async function required<T>(
  loading: Promise<{ ok: true; value: T } | { ok: false; reason: string }>,
): Promise<T> {
  const loaded = await loading;
  if (!loaded.ok) throw new Error(loaded.reason);
  return loaded.value;
}

await main();
