import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { type KeyValueReadPoint, REVISION_ENTRY, readArchive, VsnapError, writeArchive } from "@vsnap/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FENCE_PAGE_KEYS, FENCE_SPACING, Fences, FIRST_FENCE_PAGE_KEYS } from "../src/fences.js";
import type { RangeRequest } from "../src/grpc/messages.js";
import { type EtcdClient, etcdSource } from "../src/index.js";
import { DEFAULT_PAGE_BYTES, DEFAULT_PAGE_SIZE, readPinned } from "../src/source.js";
import {
  clearAll,
  client,
  collect,
  connection,
  etcdctlGetAll,
  objectValue,
  seed,
  server,
  withoutMetadata,
} from "./helpers.js";

const etcd = server("kv");
let c: EtcdClient;
let dir: string;

beforeAll(async () => {
  c = await client(etcd);
  dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-etcd-kv-"));
});
afterAll(() => {
  c?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openKv(options: { pageSize?: number; pageBytes?: number } = {}): Promise<KeyValueReadPoint> {
  const readPoint = await etcdSource({ ...connection(etcd), ...options }).open();
  if (readPoint.mode !== "kv") throw new Error("expected a kv read point");
  return readPoint;
}

describe("key/value snapshot of a live etcd", () => {
  it("archives one pinned revision while a writer hammers the store: the archive equals etcdctl get --rev", async () => {
    await clearAll(c);
    const keys = Array.from({ length: 3000 }, (_, i) => `/registry/configmaps/ns-${i % 7}/cm-${i}`);
    await seed(
      c,
      keys.map((k, i) => [k, objectValue(i, 200 + (i % 13) * 50)]),
    );
    const readPoint = await openKv({ pageSize: 40 });
    expect(readPoint.totals.keys).toBe(3000);
    // the same read point, consumed slowly so the writer gets many transactions in between pages
    const slowed: KeyValueReadPoint = {
      ...readPoint,
      async *entries(signal) {
        let n = 0;
        for await (const kv of readPoint.entries(signal)) {
          if (++n % 40 === 0) await new Promise((r) => setTimeout(r, 3));
          yield kv;
        }
      },
    };

    // The writer overwrites, deletes and creates keys (and metadata keys) until the archive is written.
    let stop = false;
    let writes = 0;
    const writer = (async () => {
      let n = 0;
      while (!stop) {
        n++;
        const put = (n * 7919) % keys.length;
        // never the key just put: etcd refuses a transaction that names a key twice
        const del = (put + 1 + ((n * 104729) % (keys.length - 1))) % keys.length;
        await c.txn([
          { put: { key: Buffer.from(keys[put]!), value: objectValue(n + 100_000, 300) } },
          { deleteRange: { key: Buffer.from(keys[del]!) } },
          { put: { key: Buffer.from(`/registry/new/k-${n}`), value: Buffer.from(`new ${n}`) } },
          { put: { key: Buffer.from(`/vcluster/snapshot/leaked-${n % 3}`), value: Buffer.from("x") } },
        ]);
        writes++;
      }
    })();
    const file = path.join(dir, "hammered.tar.gz");
    const archive = writeArchive({ readPoint: slowed, toolVersion: "0.1.0-test" });
    await pipeline(archive.stream, createWriteStream(file));
    await archive.done;
    stop = true;
    await writer;
    await readPoint.close();

    let revision: number | undefined;
    const got: [string, Buffer][] = [];
    for await (const entry of readArchive(createReadStream(file))) {
      if (entry.name === REVISION_ENTRY) revision = Number((await entry.bytes()).toString());
      else if (entry.kind === "key") got.push([entry.name, await entry.bytes()]);
    }
    expect(revision).toBe(readPoint.revision);
    expect(writes).toBeGreaterThan(20);
    const now = await etcdctlGetAll(etcd);
    expect(now.revision).toBeGreaterThan(revision! + 20);
    const expected = withoutMetadata((await etcdctlGetAll(etcd, revision)).kvs);
    expect(got.length).toBe(expected.length);
    expect(got.map(([k]) => k)).toEqual(expected.map(([k]) => k));
    expect(got.every(([, v], i) => v.equals(expected[i]![1]))).toBe(true);
    // and the live store has moved on: the snapshot is not simply "now"
    const lastNew = `/registry/new/k-${writes}`;
    expect(now.kvs.some(([k]) => k === lastNew)).toBe(true);
    expect(got.some(([k]) => k === lastNew)).toBe(false);
  });

  it("never copies /vcluster/snapshot/ keys nor keys outside /, and counts only what it reads", async () => {
    await clearAll(c);
    await seed(c, [
      ["/registry/a", Buffer.from("a")],
      ["/vcluster/snapshot/release", Buffer.from("leaked")],
      ["/vcluster/snapshot/db", Buffer.from("leaked")],
      ["/vcluster/snapshotx", Buffer.from("kept: not under the prefix")],
      ["/vcluster/mappings/x", Buffer.from("kept")],
      ["compact_rev_key", Buffer.from("outside /")],
      ["0after", Buffer.from("outside /")],
      ["/zz", Buffer.alloc(0)],
    ]);
    const readPoint = await openKv();
    expect(readPoint.totals.keys).toBe(4);
    const got = await collect(readPoint.entries());
    await readPoint.close();
    expect(got.map(([k]) => k)).toEqual([
      "/registry/a",
      "/vcluster/mappings/x",
      "/vcluster/snapshotx",
      "/zz",
    ]);
    expect(got[3]![1].length).toBe(0);
  });

  it("adapts page sizes to value sizes and still returns every key in order", async () => {
    await clearAll(c);
    const entries: [string, Buffer][] = Array.from({ length: 120 }, (_, i) => [
      `/registry/secrets/big-${String(i).padStart(3, "0")}`,
      objectValue(i, i % 10 === 0 ? 300_000 : 2_000),
    ]);
    await seed(c, entries);
    const readPoint = await openKv({ pageBytes: 256 * 1024 });
    const got = await collect(readPoint.entries());
    await readPoint.close();
    expect(got.map(([k]) => k)).toEqual(entries.map(([k]) => k));
    expect(got.every(([, v], i) => v.equals(entries[i]![1]))).toBe(true);
  });

  it("frees each page once read when the caller takes entries as transient, and only then", async () => {
    await clearAll(c);
    const entries: [string, Buffer][] = Array.from({ length: 300 }, (_, i) => [
      `/registry/configmaps/ns/cm-${String(i).padStart(3, "0")}`,
      objectValue(i, 2_000),
    ]);
    await seed(c, entries);
    const readPoint = await openKv({ pageSize: 100 });
    try {
      const held: Uint8Array[] = [];
      let i = 0;
      for await (const { key, value } of readPoint.entries(undefined, { transient: true })) {
        // intact while it is the current entry
        expect(key).toBe(entries[i]![0]);
        expect(Buffer.from(value).equals(entries[i]![1])).toBe(true);
        held.push(value);
        i++;
      }
      expect(i).toBe(entries.length);
      // pages of ~200 KB arrive in buffers of their own: every page read is freed
      expect(held.filter((v) => v.length === 0).length).toBe(entries.length);

      // without the option, every value stays valid after the read
      const kept: Uint8Array[] = [];
      for await (const { value } of readPoint.entries()) kept.push(value);
      expect(kept.length).toBe(entries.length);
      expect(kept.every((v, j) => Buffer.from(v).equals(entries[j]![1]))).toBe(true);
    } finally {
      await readPoint.close();
    }
  });

  it("ends every page at a fence, so etcd never walks far past what a page returns", async () => {
    await clearAll(c);
    // both snapshot ranges: keys before /vcluster/snapshot/ and after it
    const keys = Array.from({ length: 2600 }, (_, i) =>
      i < 2000 ? `/registry/pods/ns-${i % 5}/p-${String(i).padStart(5, "0")}` : `/zz/${i}`,
    ).sort();
    await seed(
      c,
      keys.map((k, i) => [k, objectValue(i, 50)]),
    );
    const { revision } = await etcdctlGetAll(etcd);
    for (const pageSize of [7, FENCE_SPACING, 700, 10_000]) {
      const requests: RangeRequest[] = [];
      let fencePages = 0;
      const observed = {
        rangePage: (request: RangeRequest, ctx?: object) => {
          requests.push(request);
          return c.rangePage(request, ctx);
        },
        rangeKeySample: (...args: Parameters<EtcdClient["rangeKeySample"]>) => {
          fencePages++;
          return c.rangeKeySample(...args);
        },
      } as unknown as EtcdClient;
      const got: string[] = [];
      for await (const kv of readPinned(observed, revision, pageSize, 1 << 30, undefined)) got.push(kv.key);
      expect(got).toEqual(keys);
      expect(fencePages).toBe(2); // one keys-only page per snapshot range
      const valuePages = requests;
      expect(valuePages.length).toBeGreaterThanOrEqual(
        Math.ceil(keys.length / Math.max(pageSize, FENCE_SPACING)),
      );
      for (const r of valuePages) {
        // keys the server walks for this request: from its start to its end
        const walked = keys.filter(
          (k) =>
            Buffer.compare(Buffer.from(k), Buffer.from(r.key)) >= 0 &&
            Buffer.compare(Buffer.from(k), Buffer.from(r.rangeEnd!)) < 0,
        ).length;
        expect(walked).toBeLessThanOrEqual(Math.max(pageSize, FENCE_SPACING) + FENCE_SPACING);
      }
    }
  });

  it("keeps pages near their byte target where small values give way to large ones", async () => {
    // the key count of a page is fitted to the page before it: after a run of small values, a
    // large cap would ask for thousands of large ones at once (27 MiB here with 10,000)
    await clearAll(c);
    const small = Array.from({ length: 10_000 }, (_, i): [string, Buffer] => [
      `/registry/events/ns/e-${String(i).padStart(5, "0")}`,
      objectValue(i, 400),
    ]);
    const large = Array.from({ length: 3000 }, (_, i): [string, Buffer] => [
      `/registry/pods/ns/p-${String(i).padStart(5, "0")}`,
      objectValue(i, 3000),
    ]);
    await seed(c, [...small, ...large]);
    const { revision } = await etcdctlGetAll(etcd);
    const pageBytes: number[] = [];
    const observed = {
      rangePage: async (request: RangeRequest, ctx?: object) => {
        const page = await c.rangePage(request, ctx);
        pageBytes.push(page.bytes);
        return page;
      },
      rangeKeySample: (...args: Parameters<EtcdClient["rangeKeySample"]>) => c.rangeKeySample(...args),
    } as unknown as EtcdClient;
    let keys = 0;
    for await (const _ of readPinned(observed, revision, DEFAULT_PAGE_SIZE, DEFAULT_PAGE_BYTES, undefined))
      keys++;
    expect(keys).toBe(13_000);
    expect(Math.max(...pageBytes)).toBeLessThanOrEqual(DEFAULT_PAGE_BYTES);
    // and the cap still lets small values come in pages of hundreds
    expect(pageBytes.length).toBeLessThan(13_000 / 256);
  });

  it("places a fence every FENCE_SPACING keys, across keys-only pages", async () => {
    await clearAll(c);
    const keys = Array.from({ length: 1300 }, (_, i) => `/registry/cm/c-${String(i).padStart(5, "0")}`);
    await seed(
      c,
      keys.map((k, i) => [k, objectValue(i, 20)]),
    );
    const { revision } = await etcdctlGetAll(etcd);
    const range = { key: Buffer.from("/"), rangeEnd: Buffer.from("0") };
    const fences = new Fences(c, range, revision, undefined, 100); // 13 keys-only pages
    const at = (i: number) => Buffer.from(keys[i]!);
    expect((await fences.endFor(at(0), FENCE_SPACING)).toString()).toBe(keys[FENCE_SPACING]);
    expect((await fences.endFor(at(300), 2 * FENCE_SPACING)).toString()).toBe(keys[3 * FENCE_SPACING]);
    expect((await fences.endFor(at(3 * FENCE_SPACING), 10)).toString()).toBe(keys[4 * FENCE_SPACING]);
    // fewer keys left than asked for: the range's own end
    expect((await fences.endFor(at(4 * FENCE_SPACING), 10 * FENCE_SPACING)).equals(range.rangeEnd)).toBe(
      true,
    );
  });

  it("reads the next keys-only page ahead, and a failure there surfaces at the next fence asked for", async () => {
    // a client stand-in: page n of keys-only sampling holds 4 fences, page 3 fails
    const calls: number[] = [];
    let release: () => void = () => undefined;
    const client = {
      rangeKeySample: async (request: { key: Buffer }) => {
        const n = calls.length;
        calls.push(n);
        if (n === 1) await new Promise<void>((resolve) => (release = resolve));
        if (n === 2) throw new Error("etcdserver: mvcc: required revision has been compacted");
        const sampled = [1, 2, 3, 4].map((i) => Buffer.from(`/k/${n}-${i}`));
        return {
          sampled,
          last: Buffer.from(`/k/${n}-9`),
          keys: 4 * FENCE_SPACING,
          more: true,
          from: request.key,
        };
      },
    } as unknown as EtcdClient;
    const range = { key: Buffer.from("/"), rangeEnd: Buffer.from("0") };
    // 8 keys-only keys a page: read ahead once fewer than max(wanted, 8 / FENCE_SPACING / 2) fences are known
    const fences = new Fences(client, range, 1, undefined, 8 * FENCE_SPACING);
    expect((await fences.endFor(Buffer.from("/"), FENCE_SPACING)).toString()).toBe("/k/0-1");
    expect((await fences.endFor(Buffer.from("/k/0-1"), FENCE_SPACING)).toString()).toBe("/k/0-2");
    expect((await fences.endFor(Buffer.from("/k/0-2"), FENCE_SPACING)).toString()).toBe("/k/0-3");
    // three fences used, one left (below 4 = half a page): the second page is already asked for
    expect(calls).toEqual([0, 1]);
    const fourth = await fences.endFor(Buffer.from("/k/0-3"), FENCE_SPACING);
    expect(fourth.toString()).toBe("/k/0-4");
    release();
    expect((await fences.endFor(fourth, FENCE_SPACING)).toString()).toBe("/k/1-1");
    // the read-ahead of page 3 fails: some of the fences already known may still be handed out
    // (how many depends on when the failure lands), then the error, never the range's end
    const seen: string[] = [];
    let position: Buffer = Buffer.from("/k/1-1");
    const error = await (async () => {
      try {
        for (;;) {
          position = await fences.endFor(position, FENCE_SPACING);
          seen.push(position.toString());
        }
      } catch (e) {
        return e as Error;
      }
    })();
    expect(["/k/1-2", "/k/1-3", "/k/1-4"].slice(0, seen.length)).toEqual(seen);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(error.message).toMatch(/compacted/);
    expect(calls).toEqual([0, 1, 2]);
  });

  it("starts the fence pass with a small keys-only page, then reads full ones", async () => {
    const limits: number[] = [];
    const client = {
      rangeKeySample: async (request: { limit: number }) => {
        limits.push(request.limit);
        const n = limits.length;
        const sampled = Array.from({ length: Math.floor(request.limit / FENCE_SPACING) }, (_, i) =>
          Buffer.from(`/k/${n}-${String(i).padStart(4, "0")}`),
        );
        return { sampled, last: Buffer.from(`/k/${n}-9999`), keys: request.limit, more: n < 3 };
      },
    } as unknown as EtcdClient;
    const fences = new Fences(client, { key: Buffer.from("/"), rangeEnd: Buffer.from("0") }, 1, undefined);
    let position: Buffer = Buffer.from("/");
    for (let i = 0; i < 40; i++) position = await fences.endFor(position, FENCE_SPACING);
    expect(limits[0]).toBe(FIRST_FENCE_PAGE_KEYS);
    expect(limits.slice(1)).toEqual(limits.slice(1).map(() => FENCE_PAGE_KEYS));
    expect(limits.length).toBeGreaterThanOrEqual(2);
  });

  it("fails with CONFLICT when the pinned revision is compacted mid-read", async () => {
    await clearAll(c);
    await seed(
      c,
      Array.from(
        { length: 400 },
        (_, i) => [`/registry/pods/p-${i}`, objectValue(i, 100)] as [string, Buffer],
      ),
    );
    const readPoint = await openKv({ pageSize: 10 });
    const iterator = readPoint.entries()[Symbol.asyncIterator]();
    await iterator.next();
    const after = await seed(c, [["/registry/pods/late", Buffer.from("x")]]);
    await c.compact(after, true);
    const drain = async () => {
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
        // read on until the compacted revision is hit
      }
    };
    const error = await drain().then(
      () => undefined,
      (e: unknown) => e,
    );
    await readPoint.close();
    expect(VsnapError.is(error, "CONFLICT")).toBe(true);
    expect((error as VsnapError).message).toMatch(/compacted/);
    expect((error as VsnapError).hint).toMatch(/run the snapshot again/);
  });

  it("stops reading when aborted", async () => {
    await clearAll(c);
    await seed(
      c,
      Array.from({ length: 300 }, (_, i) => [`/registry/x/${i}`, objectValue(i, 100)] as [string, Buffer]),
    );
    const readPoint = await openKv({ pageSize: 10 });
    const controller = new AbortController();
    let n = 0;
    const error = await (async () => {
      for await (const _ of readPoint.entries(controller.signal)) {
        if (++n === 25) controller.abort();
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    await readPoint.close();
    expect(VsnapError.is(error, "ABORTED")).toBe(true);
    expect(n).toBeLessThan(300);
  });
});
