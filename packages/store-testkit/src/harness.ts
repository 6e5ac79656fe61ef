import {
  type ErrorCode,
  type ObjectInfo,
  type ParsedLocation,
  type PutOptions,
  parseWithPlugin,
  type Store,
  type StoreContext,
  VsnapError,
} from "@vsnap/core";
import type { ExpectStatic, TestContext } from "vitest";
import { type Digest, hashing, sha256Of } from "./digest.js";
import { MIN_SECRET_LENGTH, type StoreConformanceOptions } from "./options.js";
import { randomStream } from "./random-stream.js";

/** One test's store, opened on a fresh root and closed (then torn down) when the test finishes. */
export interface Harness {
  readonly store: Store;
  readonly location: ParsedLocation<unknown>;
  readonly secrets: readonly string[];
  /** Everything the store logged through `StoreContext.log`. */
  readonly logs: readonly string[];
  key(name: string): string;
}

export async function openHarness(options: StoreConformanceOptions, test: TestContext): Promise<Harness> {
  const target = await options.setup();
  let store: Store | undefined;
  test.onTestFinished(async () => {
    try {
      await store?.close();
    } finally {
      await target.teardown?.();
    }
  });
  const secrets = target.secrets ?? [];
  for (const [index, secret] of secrets.entries()) {
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new Error(
        `store-testkit: secrets[${index}] is shorter than ${MIN_SECRET_LENGTH} characters; use a longer test credential so that a chance match cannot fail the redaction test`,
      );
    }
  }
  const logs: string[] = [];
  const given = target.context;
  const context: StoreContext = {
    env: given?.env ?? process.env,
    log: (message) => {
      logs.push(message);
      given?.log?.(message);
    },
  };
  const location = parseWithPlugin(target.url, options.plugin);
  store = await options.plugin.open(location, context);
  const makeKey = options.makeKey ?? ((name: string) => `${name}.tar.gz`);
  return { store, location, secrets, logs, key: makeKey };
}

export interface PutResult {
  readonly info: ObjectInfo;
  /** What the store actually pulled from the body. */
  readonly sent: Digest;
}

/** Puts `bytes` random bytes, hashing what the store pulls. */
export async function putRandom(
  store: Store,
  key: string,
  bytes: number,
  seed: number | string,
  options: PutOptions & { chunkSize?: number | readonly number[] } = {},
): Promise<PutResult> {
  const { chunkSize, ...putOptions } = options;
  const tee = hashing(randomStream(bytes, seed, chunkSize === undefined ? {} : { chunkSize }));
  const info = await store.put(key, tee.body, { sizeHint: bytes, ...putOptions });
  return { info, sent: tee.digest() };
}

export async function digestOf(store: Store, key: string): Promise<Digest> {
  const reader = await store.get(key);
  return sha256Of(reader.body);
}

export async function listAll(store: Store, prefix?: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of store.list(prefix)) out.push(info);
  return out;
}

export async function listKeys(store: Store, prefix?: string): Promise<string[]> {
  return (await listAll(store, prefix)).map((info) => info.key).sort();
}

/** The error an operation rejects with; fails the test when it resolves. */
export async function rejectionOf(
  expect: ExpectStatic,
  what: string,
  operation: () => Promise<unknown>,
): Promise<unknown> {
  try {
    await operation();
  } catch (error) {
    return error;
  }
  return expect.unreachable(`${what} should have rejected, but it resolved`);
}

/** Asserts that `operation` rejects with a VsnapError of `code`, showing the actual error otherwise. */
export async function expectCode(
  expect: ExpectStatic,
  what: string,
  operation: () => Promise<unknown>,
  code: ErrorCode,
): Promise<unknown> {
  const error = await rejectionOf(expect, what, operation);
  expect(summarize(error), `${what} should reject with VsnapError ${code}`).toMatchObject({
    vsnapError: true,
    code,
  });
  return error;
}

export function summarize(error: unknown): { vsnapError: boolean; code: unknown; message: string } {
  return {
    vsnapError: VsnapError.is(error),
    code: (error as { code?: unknown } | null)?.code,
    message: error instanceof Error ? error.message : String(error),
  };
}

/** The error and every `cause` below it. */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && !chain.includes(current) && chain.length < 20) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/** Checks the fields every ObjectInfo must carry. */
export function expectInfo(
  expect: ExpectStatic,
  info: ObjectInfo | undefined,
  key: string,
  size: number,
  where: string,
) {
  expect(info, `${where}: ObjectInfo`).toBeDefined();
  expect({ key: info?.key, size: info?.size }, `${where}: key and size`).toEqual({ key, size });
  expect(typeof info?.url === "string" && info.url.length > 0, `${where}: url is a non-empty string`).toBe(
    true,
  );
  const modified = info?.modified;
  expect(
    modified instanceof Date && !Number.isNaN(modified.getTime()),
    `${where}: modified is a valid Date`,
  ).toBe(true);
  // generous: a remote store's clock may differ a little from ours
  const skew = Math.abs((modified?.getTime() ?? 0) - Date.now());
  expect(skew < 60 * 60 * 1000, `${where}: modified is within an hour of now`).toBe(true);
}

/** Resolves when `promise` settles, or rejects after `ms` with a message saying what hung. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise plus the function that resolves it. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
