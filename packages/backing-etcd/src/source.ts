import {
  type DatabaseReadPoint,
  type EntriesOptions,
  type KeyValue,
  type KeyValueReadPoint,
  type ReadPoint,
  releaseView,
  type SnapshotSource,
  throwIfAborted,
  VsnapError,
} from "@vsnap/core";
import { EtcdClient } from "./client.js";
import { checkDbTrailer, TRAILER_SIZE } from "./db-trailer.js";
import { Fences } from "./fences.js";
import { type RangePage, releaseMessage } from "./grpc/messages.js";
import { keyAfter, keyToString, SNAPSHOT_RANGES } from "./keys.js";
import type { EtcdConnectionOptions } from "./options.js";

export type EtcdSnapshotMode = "kv" | "db";

export interface EtcdSourceOptions extends EtcdConnectionOptions {
  /** `kv` (default): every key under `/` at one revision, portable to SQLite/kine. `db`: etcd's own snapshot. */
  readonly mode?: EtcdSnapshotMode;
  /** Most keys per range page (default 512); pages also shrink to stay near `pageBytes`. */
  readonly pageSize?: number;
  /** Target bytes per range page (default 4 MiB): bounds memory whatever the value sizes. */
  readonly pageBytes?: number;
  readonly signal?: AbortSignal;
}

/**
 * A page's key count is fitted to the sizes of the page before it, so a larger cap overshoots
 * where small objects give way to large ones: with 10,000, pages of events or endpoints were
 * followed by pages of 9–17 MiB of PVCs or issuers, each a 16–23 MiB jump in RSS (1M keys). With
 * 512 (kubectl's 500 rounded to whole fences) the largest page was under 5 MiB, at no measured
 * cost in speed (docs/benchmarks.md).
 */
export const DEFAULT_PAGE_SIZE = 512;
export const DEFAULT_PAGE_BYTES = 4 * 1024 * 1024;
const MIN_PAGE_SIZE = 16;

/**
 * A snapshot source reading etcd. In `kv` mode the read point pins the revision of one count-only
 * transaction and then reads every page at that revision, so writes that land during the snapshot
 * are invisible to it; a compaction past the pinned revision fails the read (CONFLICT) instead of
 * tearing it. In `db` mode it streams Maintenance/Snapshot, checking etcd's SHA-256 trailer.
 */
export function etcdSource(options: EtcdSourceOptions): SnapshotSource {
  const mode = options.mode ?? "kv";
  if (mode !== "kv" && mode !== "db") {
    throw new VsnapError("INVALID_ARGUMENT", `unknown etcd snapshot mode "${String(mode)}"`, {
      hint: "use kv or db",
    });
  }
  const endpoints = typeof options.endpoints === "string" ? options.endpoints : options.endpoints.join(",");
  return {
    kind: "etcd",
    description: `etcd ${endpoints}${mode === "db" ? " (db snapshot)" : ""}`,
    async open(openOptions = {}): Promise<ReadPoint> {
      const signal = anySignal(options.signal, openOptions.signal);
      const { client, status } = await EtcdClient.connect(options, signal);
      try {
        return mode === "kv"
          ? await openKeyValueReadPoint(client, options, signal)
          : openDatabaseReadPoint(client, status.header.revision, status.dbSize, options.signal);
      } catch (error) {
        client.close();
        throw error;
      }
    },
  };
}

function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length <= 1) return present[0];
  return AbortSignal.any(present);
}

async function openKeyValueReadPoint(
  client: EtcdClient,
  options: EtcdSourceOptions,
  signal: AbortSignal | undefined,
): Promise<KeyValueReadPoint> {
  // One transaction counts both ranges and fixes the revision every page will be read at.
  const pin = await client.txn(
    SNAPSHOT_RANGES.map((r) => ({ range: { key: r.key, rangeEnd: r.rangeEnd, countOnly: true } })),
    { signal },
  );
  const revision = pin.header.revision;
  let keys = 0;
  for (const op of pin.responses) if ("range" in op) keys += op.range.count;
  const maxPage = Math.max(1, options.pageSize ?? DEFAULT_PAGE_SIZE);
  const pageBytes = Math.max(1, options.pageBytes ?? DEFAULT_PAGE_BYTES);
  return {
    mode: "kv",
    kind: "etcd",
    revision,
    totals: { keys },
    entries: (entriesSignal?: AbortSignal, entriesOptions: EntriesOptions = {}) =>
      readPinned(
        client,
        revision,
        maxPage,
        pageBytes,
        anySignal(options.signal, entriesSignal),
        entriesOptions.transient ?? false,
      ),
    async close() {
      client.close();
    },
  };
}

/**
 * Spans requested ahead of the one being consumed: etcd prepares them while this process works.
 * Two or three were no faster at 300k keys and cost ~45 MiB more RSS (docs/benchmarks.md).
 */
export const PAGES_AHEAD = 1;

/**
 * Pages through both snapshot ranges at `revision`. The key space is cut at fences (see
 * fences.ts) into spans of about one page, so etcd's cost per page stays proportional to the page
 * and the spans are known before their pages arrive: the first page of the next PAGES_AHEAD spans
 * is requested while the current one is consumed (at most PAGES_AHEAD + 1 pages in memory). A span
 * that holds more than one page (values larger than the last ones) goes on from its last key.
 */
export async function* readPinned(
  client: EtcdClient,
  revision: number,
  maxPage: number,
  pageBytes: number,
  signal: AbortSignal | undefined,
  /** The caller is done with each entry before the next (EntriesOptions): free each page after use. */
  transient = false,
): AsyncGenerator<KeyValue> {
  const inner = new AbortController();
  const callSignal = anySignal(signal, inner.signal);
  let limit = Math.min(maxPage, 500);
  const fetchPage = (key: Buffer, rangeEnd: Buffer): Promise<RangePage> => {
    const page = client.rangePage({ key, rangeEnd, limit, revision }, { signal: callSignal });
    page.catch(() => undefined); // awaited in turn; this only keeps an abandoned prefetch quiet
    return page;
  };
  try {
    for (const range of SNAPSHOT_RANGES) {
      const fences = new Fences(client, range, revision, callSignal);
      const ahead: { end: Buffer; page: Promise<RangePage> }[] = [];
      let nextStart: Buffer | undefined = range.key;
      const planAhead = async () => {
        while (nextStart && ahead.length < PAGES_AHEAD) {
          const start: Buffer = nextStart;
          const end = await fences.endFor(start, limit);
          nextStart = end.equals(range.rangeEnd) ? undefined : end;
          ahead.push({ end, page: fetchPage(start, end) });
        }
      };
      await planAhead();
      while (ahead.length > 0) {
        const span = ahead.shift()!;
        let page = await span.page;
        if (page.length > 0) limit = nextLimit(page, maxPage, pageBytes);
        await planAhead();
        for (;;) {
          for (let i = 0; i < page.length; i++) {
            const { key, value } = page.keyValue(i);
            yield { key: keyToString(key), value };
          }
          throwIfAborted(signal, "etcd snapshot");
          const after = page.more && page.length > 0 ? keyAfter(page.key(page.length - 1)) : undefined;
          if (transient) releaseMessage(page.buf);
          if (!after) break;
          page = await fetchPage(after, span.end);
        }
      }
    }
  } finally {
    inner.abort();
  }
}

/** Fits the next page to `pageBytes` from the sizes seen so far, so huge values mean small pages. */
function nextLimit(page: RangePage, maxPage: number, pageBytes: number): number {
  const average = Math.max(1, page.bytes / Math.max(1, page.length));
  return Math.max(Math.min(MIN_PAGE_SIZE, maxPage), Math.min(maxPage, Math.floor(pageBytes / average)));
}

function openDatabaseReadPoint(
  client: EtcdClient,
  revision: number,
  dbSize: number,
  sourceSignal: AbortSignal | undefined,
): DatabaseReadPoint {
  let started = false;
  return {
    mode: "db",
    kind: "etcd",
    // etcd 3.4 sends no header on the snapshot stream: the revision seen just before it is a lower bound
    revision,
    totals: { bytes: dbSize + TRAILER_SIZE },
    async database(signal?: AbortSignal, options?: EntriesOptions) {
      if (started) throw new VsnapError("FAILED_PRECONDITION", "an etcd db read point streams once");
      started = true;
      const combined = anySignal(sourceSignal, signal);
      const messages = client.snapshot(combined);
      // The first message tells the exact size (its blob + the bytes remaining after it), which the
      // archive needs before the body; etcd then sends the 32-byte SHA-256 trailer.
      let first = await messages.next();
      while (!first.done && first.value.blob.length === 0 && first.value.remainingBytes === 0)
        first = await messages.next();
      if (first.done) {
        throw new VsnapError("INTEGRITY", `etcd ${client.endpoint} sent an empty snapshot stream`);
      }
      const size = first.value.blob.length + first.value.remainingBytes + TRAILER_SIZE;
      const head = first.value.blob;
      // A transient caller is done with a blob when it asks for the next: free its message then
      // (the blob is the message's last field; its tag, length and remaining_bytes come before).
      // Left to V8, 2.4 GiB of 32 KiB messages piled up by 60–70 MiB between collections.
      const done = options?.transient ? (blob: Uint8Array) => releaseView(blob, 64) : () => {};
      async function* blobs(): AsyncGenerator<Uint8Array> {
        yield head;
        done(head);
        for await (const message of messages) {
          if (message.blob.length === 0) continue;
          yield message.blob;
          done(message.blob);
        }
      }
      return {
        size,
        chunks: checkDbTrailer(blobs(), {
          expectedSize: size,
          requireTrailer: true,
          what: `etcd snapshot stream from ${client.endpoint}`,
        }),
      };
    },
    async close() {
      client.close();
    },
  };
}
