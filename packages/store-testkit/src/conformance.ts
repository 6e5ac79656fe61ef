import { createHash, randomFillSync } from "node:crypto";
import { inspect } from "node:util";
import { isTransient, markTransient, type ObjectInfo, parseWithPlugin, releaseView } from "@vsnap/core";
import { describe, type ExpectStatic, it, type TestContext } from "vitest";
import { type Digest, sha256Of } from "./digest.js";
import {
  causeChain,
  deferred,
  digestOf,
  expectCode,
  expectInfo,
  type Harness,
  listAll,
  listKeys,
  openHarness,
  putRandom,
  rejectionOf,
  summarize,
  within,
} from "./harness.js";
import {
  DEFAULT_LARGE_OBJECT_BYTES,
  DEFAULT_LIST_PAGE_HINT,
  type StoreConformanceOptions,
} from "./options.js";
import { randomStream } from "./random-stream.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const EMPTY: Digest = {
  sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  bytes: 0,
};
const DEFAULT_TEST_TIMEOUT_MS = 60_000;
/** How long a store may take to notice an abort while its body stalls. */
const ABORT_DEADLINE_MS = 10_000;

type ConformanceTest = (h: Harness, expect: ExpectStatic, test: TestContext) => Promise<void>;

/**
 * Registers the store conformance suite with vitest. Call it at the top level of a test file:
 *
 * ```ts
 * describeStoreConformance({ name: "container", plugin, setup: async () => ({ url, teardown }) });
 * ```
 *
 * Every test opens its own store on a fresh root from `setup`, and closes it afterwards.
 */
export function describeStoreConformance(options: StoreConformanceOptions): void {
  const largeBytes = options.largeObjectBytes ?? DEFAULT_LARGE_OBJECT_BYTES;
  const pageHint = options.listPageHint ?? DEFAULT_LIST_PAGE_HINT;
  // explicit timeouts: a consumer's vitest default (5 s) is too short for remote stores
  const test = (name: string, body: ConformanceTest, timeout = DEFAULT_TEST_TIMEOUT_MS) =>
    it(name, { timeout }, async (context) => {
      const h = await openHarness(options, context);
      await body(h, context.expect, context);
    });

  describe(`store conformance: ${options.name}`, () => {
    describe("round trips", () => {
      test("an empty object (0 B), also from a body of empty chunks", async (h, expect) => {
        const key = h.key("empty");
        const info = await h.store.put(key, randomStream(0, "empty"));
        expectInfo(expect, info, key, 0, "put");
        expectInfo(expect, await h.store.stat(key), key, 0, "stat");
        const reader = await h.store.get(key);
        expectInfo(expect, reader.info, key, 0, "get");
        expect(await sha256Of(reader.body)).toEqual(EMPTY);

        const chunks = h.key("empty-chunks");
        async function* emptyChunks() {
          yield new Uint8Array(0);
          yield new Uint8Array(0);
        }
        await h.store.put(chunks, emptyChunks());
        expect(await digestOf(h.store, chunks)).toEqual(EMPTY);
      });

      test("a single byte", async (h, expect) => {
        await roundTrip(h, expect, h.key("one-byte"), 1, "one");
      });

      test(
        `a large random stream (${formatBytes(largeBytes)}), SHA-256 checked on both sides`,
        async (h, expect) => {
          await roundTrip(h, expect, h.key("large"), largeBytes, "large", MiB);
        },
        // generous: slow disks and remote stores, while never holding the stream in memory
        120_000 + Math.ceil(largeBytes / MiB) * 2_000,
      );

      test("a body marked transient may have its chunks freed, after use; other bodies' never", async (h, expect) => {
        // 300 KiB chunks, each all of its own ArrayBuffer (the only kind releaseView frees)
        const makeChunks = () =>
          Array.from({ length: 40 }, () => randomFillSync(Buffer.allocUnsafeSlow(300 * KiB)));
        const digest = (chunks: readonly Uint8Array[]) => {
          const hash = createHash("sha256");
          for (const chunk of chunks) hash.update(chunk);
          return hash.digest("hex");
        };
        const kept = makeChunks();
        const keptDigest = digest(kept);
        await h.store.put(h.key("kept"), iterate(kept));
        expect(kept.filter((c) => c.buffer.detached).length, "chunks freed without the flag").toBe(0);
        expect(digest(kept), "the caller's chunks are unchanged").toBe(keptDigest);
        expect((await digestOf(h.store, h.key("kept"))).sha256).toBe(keptDigest);

        const given = makeChunks();
        const givenDigest = digest(given);
        await h.store.put(h.key("given"), markTransient(iterate(given)));
        // freeing a chunk before its bytes were sent or copied would show here
        expect((await digestOf(h.store, h.key("given"))).sha256).toBe(givenDigest);
        if (options.freesTransientChunks) {
          const freed = given.filter((c) => c.buffer.detached).length;
          expect(freed, "transient chunks freed").toBeGreaterThanOrEqual(given.length / 2);
        }
      });

      test("a get body marked transient reads whole while each chunk is freed on arrival", async (h, expect) => {
        const key = h.key("freed-on-read");
        const { sent } = await putRandom(h.store, key, 3 * MiB + 11, "freed-on-read");
        const reader = await h.store.get(key);
        const hash = createHash("sha256");
        let bytes = 0;
        for await (const chunk of reader.body) {
          hash.update(chunk);
          bytes += chunk.byteLength;
          // a store that reuses a buffer it marked transient would hand out freed (empty) chunks
          if (isTransient(reader.body)) releaseView(chunk);
        }
        expect({ sha256: hash.digest("hex"), bytes }).toEqual(sent);
      });

      test("chunks of awkward sizes across buffer and part boundaries", async (h, expect) => {
        const sizes = [1, 7, 4095, 4097, 65_537, MiB + 1, 3];
        await roundTrip(h, expect, h.key("awkward"), 8 * MiB + 7, "awkward", sizes);
      });
    });

    describe("urls", () => {
      test("the location and object URLs are display URLs of the store's scheme", async (h, expect) => {
        const scheme = `${h.location.scheme}://`;
        expect(h.store.location.startsWith(scheme), `store.location starts with ${scheme}`).toBe(true);
        const key = h.key("url");
        const { info } = await putRandom(h.store, key, 10, "url");
        const urls = [info.url, (await h.store.stat(key))?.url, (await listAll(h.store))[0]?.url];
        for (const url of urls) expect(url?.startsWith(scheme), `${url} starts with ${scheme}`).toBe(true);
        expect(new Set(urls).size, "put, stat and list give the same URL").toBe(1);
        // a URL with a masked secret cannot be parsed back; any other must name the same object
        if (!info.url.includes("***")) {
          expect(parseWithPlugin(info.url, options.plugin).key, `the key parsed from ${info.url}`).toBe(key);
        }
      });
    });

    describe("missing objects", () => {
      test("stat of a missing key resolves undefined", async (h, expect) => {
        expect(await h.store.stat(h.key("missing"))).toBeUndefined();
      });

      test("get of a missing key rejects NOT_FOUND", async (h, expect) => {
        await expectCode(expect, "get of a missing key", () => h.store.get(h.key("missing")), "NOT_FOUND");
      });

      test("delete of a missing key resolves", async (h, expect) => {
        await expect(h.store.delete(h.key("missing"))).resolves.toBeUndefined();
      });
    });

    describe("list", () => {
      test("an empty root lists nothing", async (h, expect) => {
        expect(await listKeys(h.store)).toEqual([]);
        expect(await listKeys(h.store, "nothing-here")).toEqual([]);
      });

      test("lists exactly the objects put, filtered by prefix, with correct sizes", async (h, expect) => {
        const names = { "lst-a-1": 1, "lst-a-2": 10, "lst-ab-1": 100, "other-1": 0 };
        for (const name of Object.keys(names)) {
          expect(h.key(name).startsWith(name), `makeKey("${name}") must start with "${name}"`).toBe(true);
        }
        const key = (name: keyof typeof names) => h.key(name);
        for (const [name, size] of Object.entries(names)) {
          await putRandom(h.store, h.key(name), size, name);
        }
        const all = await listAll(h.store);
        expect(all.map((info) => info.key).sort()).toEqual(
          Object.keys(names)
            .map((name) => h.key(name))
            .sort(),
        );
        for (const [name, size] of Object.entries(names)) {
          expectInfo(
            expect,
            all.find((info) => info.key === h.key(name)),
            h.key(name),
            size,
            `list entry ${name}`,
          );
        }
        expect(await listKeys(h.store, "")).toEqual(
          Object.keys(names)
            .map((name) => h.key(name))
            .sort(),
        );
        expect(await listKeys(h.store, "lst-a-")).toEqual([key("lst-a-1"), key("lst-a-2")].sort());
        expect(await listKeys(h.store, "lst-a")).toEqual(
          [key("lst-a-1"), key("lst-a-2"), key("lst-ab-1")].sort(),
        );
        expect(await listKeys(h.store, "other")).toEqual([key("other-1")]);
        expect(await listKeys(h.store, "nomatch")).toEqual([]);
      });

      test(`lists every object beyond one page (${pageHint + 1} objects)`, async (h, expect) => {
        const keys = Array.from({ length: pageHint + 1 }, (_, i) =>
          h.key(`page-${String(i).padStart(5, "0")}`),
        );
        await inBatches(keys, 8, (key, i) => putRandom(h.store, key, i, key));
        const all = await listAll(h.store, "page-");
        expect(all.map((info) => info.key).sort()).toEqual([...keys].sort());
        for (const info of all) expect(info.size).toBe(keys.indexOf(info.key));
      });
    });

    describe("delete", () => {
      test("removes only the named object, and again is a no-op", async (h, expect) => {
        const doomed = h.key("del-a");
        const neighbour = h.key("del-ab");
        await putRandom(h.store, doomed, 1000, "doomed");
        const kept = await putRandom(h.store, neighbour, 2000, "kept");
        await h.store.delete(doomed);
        expect(await h.store.stat(doomed)).toBeUndefined();
        await expectCode(expect, "get after delete", () => h.store.get(doomed), "NOT_FOUND");
        expect(await listKeys(h.store)).toEqual([neighbour]);
        await expect(h.store.delete(doomed)).resolves.toBeUndefined();
        expect(await digestOf(h.store, neighbour)).toEqual(kept.sent);
      });
    });

    describe("overwrite and atomicity", () => {
      test("an overwrite replaces the whole object", async (h, expect) => {
        const key = h.key("overwrite");
        await putRandom(h.store, key, 3 * MiB, "big");
        const small = await putRandom(h.store, key, 10, "small");
        expectInfo(expect, small.info, key, 10, "put");
        expectInfo(expect, await h.store.stat(key), key, 10, "stat after overwrite");
        expect(await digestOf(h.store, key)).toEqual(small.sent);
        expect(await listKeys(h.store)).toEqual([key]);
      });

      test("readers see the previous object until an overwrite completes", async (h, expect) => {
        const key = h.key("atomic");
        const before = await putRandom(h.store, key, MiB, "before");
        const gate = deferred();
        const atGate = deferred();
        let sent = 0;
        async function* body() {
          for await (const chunk of randomStream(2 * MiB, "after", { chunkSize: 256 * KiB })) {
            if (sent === MiB) {
              atGate.resolve();
              await gate.promise;
            }
            sent += chunk.byteLength;
            yield chunk;
          }
        }
        const pending = h.store.put(key, body());
        pending.catch(() => {});
        try {
          await Promise.race([atGate.promise, pending]);
          expect(sent, "the store pulled half of the new body").toBe(MiB);
          expectInfo(expect, await h.store.stat(key), key, MiB, "stat during overwrite");
          expect(await digestOf(h.store, key), "get during overwrite").toEqual(before.sent);
          expect(await listKeys(h.store), "list during overwrite").toEqual([key]);
        } finally {
          gate.resolve();
        }
        expectInfo(expect, await pending, key, 2 * MiB, "put");
        expect(await digestOf(h.store, key)).toEqual(await sha256Of(randomStream(2 * MiB, "after")));
      });

      test("a put aborted mid-stream rejects ABORTED and leaves nothing readable or listable", async (h, expect) => {
        const key = h.key("aborted-new");
        const controller = new AbortController();
        await expectCode(
          expect,
          "put aborted mid-stream",
          () =>
            h.store.put(key, abortAfter(randomStream(16 * MiB, "abort"), 4 * MiB, controller), {
              signal: controller.signal,
            }),
          "ABORTED",
        );
        expect(await h.store.stat(key)).toBeUndefined();
        await expectCode(expect, "get after an aborted put", () => h.store.get(key), "NOT_FOUND");
        expect(await listKeys(h.store), "no partial object is listed").toEqual([]);
      });

      test("a put aborted mid-stream keeps the previous object intact", async (h, expect) => {
        const key = h.key("aborted-old");
        const before = await putRandom(h.store, key, 2 * MiB, "before");
        const controller = new AbortController();
        await expectCode(
          expect,
          "put aborted mid-stream",
          () =>
            h.store.put(key, abortAfter(randomStream(16 * MiB, "abort"), 4 * MiB, controller), {
              signal: controller.signal,
            }),
          "ABORTED",
        );
        expectInfo(expect, await h.store.stat(key), key, 2 * MiB, "stat after the aborted overwrite");
        expect(await digestOf(h.store, key)).toEqual(before.sent);
        expect(await listKeys(h.store)).toEqual([key]);
      });

      test("a put aborted while its body stalls rejects promptly and keeps the previous object", async (h, expect) => {
        const key = h.key("stalled");
        const before = await putRandom(h.store, key, MiB, "before");
        const controller = new AbortController();
        const stalled = deferred();
        async function* body() {
          yield* randomStream(MiB, "stall");
          stalled.resolve();
          await new Promise(() => {}); // a producer that hangs, e.g. a backing store that stopped answering
        }
        const put = h.store.put(key, body(), { signal: controller.signal });
        put.catch(() => {});
        await Promise.race([stalled.promise, put]);
        controller.abort();
        await expectCode(
          expect,
          "put aborted while the body stalls",
          () => within(ABORT_DEADLINE_MS, "the aborted put", put),
          "ABORTED",
        );
        expect(await digestOf(h.store, key)).toEqual(before.sent);
        expect(await listKeys(h.store)).toEqual([key]);
      });

      test("a body that throws rejects the put, keeps the previous object and leaves nothing listable", async (h, expect) => {
        const old = h.key("throws-old");
        const fresh = h.key("throws-new");
        const before = await putRandom(h.store, old, MiB, "before");
        for (const key of [old, fresh]) {
          const failure = new Error(`conformance: the body of ${key} failed on purpose`);
          async function* body() {
            yield* randomStream(2 * MiB, "throws");
            throw failure;
          }
          const error = await rejectionOf(expect, `put with a failing body (${key})`, () =>
            h.store.put(key, body()),
          );
          const carried = causeChain(error).some(
            (e) => e === failure || (e instanceof Error && e.message.includes(failure.message)),
          );
          expect(carried, `the put's error carries the body's error (got ${inspect(summarize(error))})`).toBe(
            true,
          );
        }
        expect(await digestOf(h.store, old)).toEqual(before.sent);
        expect(await h.store.stat(fresh)).toBeUndefined();
        expect(await listKeys(h.store)).toEqual([old]);
      });

      test("concurrent puts to one key leave exactly one of the bodies, whole", async (h, expect) => {
        const key = h.key("contended");
        const seeds = ["c0", "c1", "c2", "c3"];
        const results = await Promise.allSettled(
          seeds.map((seed, i) => putRandom(h.store, key, MiB + i * 4099, seed, { chunkSize: 64 * KiB })),
        );
        const landed: Digest[] = [];
        for (const result of results) {
          if (result.status === "fulfilled") landed.push(result.value.sent);
          // a store may refuse a racing writer, but only as a CONFLICT
          else expect(summarize(result.reason)).toMatchObject({ vsnapError: true, code: "CONFLICT" });
        }
        expect(landed.length, "at least one put succeeds").toBeGreaterThan(0);
        expect(landed).toContainEqual(await digestOf(h.store, key));
        expect(await listKeys(h.store)).toEqual([key]);
      });

      test("concurrent puts to different keys all land intact", async (h, expect) => {
        const keys = Array.from({ length: 6 }, (_, i) => h.key(`parallel-${i}`));
        const results = await Promise.all(
          keys.map((key, i) => putRandom(h.store, key, MiB + i * 65_537, key, { chunkSize: 64 * KiB })),
        );
        for (const [i, key] of keys.entries()) {
          expectInfo(expect, await h.store.stat(key), key, MiB + i * 65_537, `stat ${key}`);
          expect(await digestOf(h.store, key)).toEqual(results[i]?.sent);
        }
        expect(await listKeys(h.store)).toEqual([...keys].sort());
      });
    });

    describe("abort", () => {
      test("an already-aborted signal rejects every operation with ABORTED and changes nothing", async (h, expect) => {
        const key = h.key("present");
        const before = await putRandom(h.store, key, 1000, "present");
        const signal = AbortSignal.abort();
        const absent = h.key("absent");
        await expectCode(
          expect,
          "put",
          () => h.store.put(absent, randomStream(1000, "absent"), { signal }),
          "ABORTED",
        );
        await expectCode(expect, "get", () => h.store.get(key, { signal }), "ABORTED");
        await expectCode(expect, "stat", () => h.store.stat(key, { signal }), "ABORTED");
        await expectCode(expect, "delete", () => h.store.delete(key, { signal }), "ABORTED");
        await expectCode(expect, "list", () => drain(h.store.list("", { signal })), "ABORTED");
        expect(await h.store.stat(absent)).toBeUndefined();
        expect(await digestOf(h.store, key)).toEqual(before.sent);
        expect(await listKeys(h.store)).toEqual([key]);
      });

      test("get honours an abort while the body is read", async (h, expect) => {
        const key = h.key("read-abort");
        const size = 8 * MiB;
        await putRandom(h.store, key, size, "read-abort");
        const controller = new AbortController();
        const reader = await h.store.get(key, { signal: controller.signal });
        let received = 0;
        await expectCode(
          expect,
          "reading a body after abort",
          async () => {
            for await (const chunk of reader.body) {
              received += chunk.byteLength;
              controller.abort();
            }
          },
          "ABORTED",
        );
        expect(received, "the body stopped before its end").toBeLessThan(size);
      });
    });

    describe("progress", () => {
      test("progress is monotone, ends at the total, and stops when put resolves", async (h, expect) => {
        const total = 3 * MiB + 5;
        const events: Array<{ bytes: number; totalBytes?: number | undefined; late: boolean }> = [];
        let resolved = false;
        await putRandom(h.store, h.key("progress"), total, "progress", {
          chunkSize: 64 * KiB,
          onProgress: (event) =>
            events.push({ bytes: event.bytes, totalBytes: event.totalBytes, late: resolved }),
        });
        resolved = true;
        await new Promise((resolve) => setTimeout(resolve, 50)); // let stray late events arrive
        expect(events.length, "progress was reported").toBeGreaterThan(0);
        let previous = 0;
        for (const event of events) {
          expect(Number.isFinite(event.bytes), "bytes is a number").toBe(true);
          expect(event.bytes, "bytes never go down").toBeGreaterThanOrEqual(previous);
          expect(event.bytes, "bytes never exceed the total").toBeLessThanOrEqual(total);
          if (event.totalBytes !== undefined) expect(event.totalBytes).toBe(total);
          expect(event.late, "no progress after put resolved").toBe(false);
          previous = event.bytes;
        }
        expect(events.at(-1)?.bytes, "the last event reports every byte").toBe(total);
      });
    });

    describe("secrets", () => {
      test("no secret appears in the location, object URLs, logs or errors", async (h, expect, context) => {
        if (h.secrets.length === 0) context.skip("setup returned no secrets to look for");
        const texts: Array<[where: string, text: string]> = [];
        const add = (where: string, text: unknown) => texts.push([where, String(text)]);
        const addError = (where: string, error: unknown) => {
          add(`${where}: error`, inspect(error, { depth: 10 }));
          for (const [depth, e] of causeChain(error).entries()) {
            const { message, stack, hint } = e as { message?: unknown; stack?: unknown; hint?: unknown };
            add(`${where}: message (cause depth ${depth})`, message);
            add(`${where}: stack (cause depth ${depth})`, stack);
            add(`${where}: hint (cause depth ${depth})`, hint);
          }
        };
        const addInfo = (where: string, info: ObjectInfo | undefined) => {
          add(`${where}: url`, info?.url);
          add(`${where}: ObjectInfo`, inspect(info, { depth: 10 }));
        };
        const { store } = h;
        add("store.location", store.location);
        add("String(store)", String(store));
        add("JSON.stringify(store)", safeJson(store));
        add("util.inspect(store)", inspect(store, { depth: 10 }));
        add("ParsedLocation.display", h.location.display);
        add("ParsedLocation.publicUrl", h.location.publicUrl);

        const key = h.key("secret-check");
        addInfo("put", (await putRandom(store, key, 1000, "secrets")).info);
        addInfo("stat", await store.stat(key));
        addInfo("get", (await store.get(key)).info);
        for (const info of await listAll(store)) addInfo("list", info);

        const aborted = AbortSignal.abort();
        const missing = h.key("secret-missing");
        addError("get missing", await rejectionOf(expect, "get missing", () => store.get(missing)));
        addError(
          "get aborted",
          await rejectionOf(expect, "get aborted", () => store.get(key, { signal: aborted })),
        );
        addError(
          "stat aborted",
          await rejectionOf(expect, "stat aborted", () => store.stat(key, { signal: aborted })),
        );
        addError(
          "delete aborted",
          await rejectionOf(expect, "delete aborted", () => store.delete(key, { signal: aborted })),
        );
        addError(
          "list aborted",
          await rejectionOf(expect, "list aborted", () => drain(store.list("", { signal: aborted }))),
        );
        addError(
          "put aborted",
          await rejectionOf(expect, "put aborted", () =>
            store.put(missing, randomStream(10, "x"), { signal: aborted }),
          ),
        );
        async function* failing() {
          yield new Uint8Array(10);
          throw new Error("conformance: failing body");
        }
        addError(
          "put failing body",
          await rejectionOf(expect, "put failing body", () => store.put(missing, failing())),
        );
        for (const [i, line] of h.logs.entries()) add(`log line ${i}`, line);

        for (const [index, secret] of h.secrets.entries()) {
          const forms: Array<[string, string]> = [
            ["raw", secret],
            ["base64", Buffer.from(secret).toString("base64")],
            ["url-encoded", encodeURIComponent(secret)],
          ];
          for (const [where, text] of texts) {
            for (const [form, value] of forms) {
              // the value itself stays out of the failure message
              expect(text.includes(value), `${where} contains secrets[${index}] (${form})`).toBe(false);
            }
          }
        }
      });
    });
  });
}

async function roundTrip(
  h: Harness,
  expect: ExpectStatic,
  key: string,
  bytes: number,
  seed: string,
  chunkSize?: number | readonly number[],
): Promise<void> {
  const expected = await sha256Of(randomStream(bytes, seed, chunkSize === undefined ? {} : { chunkSize }));
  const { info, sent } = await putRandom(
    h.store,
    key,
    bytes,
    seed,
    chunkSize === undefined ? {} : { chunkSize },
  );
  expect(sent, "the store pulled the whole body").toEqual(expected);
  expectInfo(expect, info, key, bytes, "put");
  expectInfo(expect, await h.store.stat(key), key, bytes, "stat");
  const reader = await h.store.get(key);
  expectInfo(expect, reader.info, key, bytes, "get");
  expect(await sha256Of(reader.body), "the bytes read back").toEqual(expected);
  expectInfo(
    expect,
    (await listAll(h.store)).find((i) => i.key === key),
    key,
    bytes,
    "list",
  );
}

/** Passes `body` through and fires `controller` once `afterBytes` have gone by, then keeps going. */
async function* abortAfter(
  body: AsyncIterable<Uint8Array>,
  afterBytes: number,
  controller: AbortController,
): AsyncGenerator<Uint8Array> {
  let sent = 0;
  for await (const chunk of body) {
    if (sent >= afterBytes) controller.abort();
    sent += chunk.byteLength;
    yield chunk;
  }
}

async function drain(iterable: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of iterable) {
    // only the iteration matters
  }
}

async function inBatches<T>(
  items: readonly T[],
  size: number,
  run: (item: T, index: number) => Promise<unknown>,
) {
  for (let start = 0; start < items.length; start += size) {
    await Promise.all(items.slice(start, start + size).map((item, offset) => run(item, start + offset)));
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "";
  } catch (error) {
    return `JSON.stringify threw: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function formatBytes(bytes: number): string {
  return bytes >= MiB && bytes % MiB === 0 ? `${bytes / MiB} MiB` : `${bytes} B`;
}

async function* iterate(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}
