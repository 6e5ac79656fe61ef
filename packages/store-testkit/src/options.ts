import type { StoreContext, StorePlugin } from "@vsnap/core";

/** What `setup` hands the suite for one test. */
export interface ConformanceTarget {
  /**
   * A snapshot URL whose root (directory, bucket prefix, repository) is fresh and isolated:
   * empty, and written by nothing but this test. The URL's own key is not used.
   */
  readonly url: string;
  /** Credential values in the URL or context that must never show up anywhere (at least 8 characters). */
  readonly secrets?: readonly string[];
  /** Context for `plugin.open`; default `{ env: process.env }`. Its `log` is captured and checked too. */
  readonly context?: StoreContext;
  /** Runs after the test, after the store is closed. */
  readonly teardown?: () => Promise<void>;
}

export interface StoreConformanceOptions {
  /** Shown in the suite's name. */
  readonly name: string;
  /** The plugin under test; stores are opened with core's `parseWithPlugin` + `plugin.open`. */
  // biome-ignore lint/suspicious/noExplicitAny: a plugin's Options type is its own business
  readonly plugin: StorePlugin<any>;
  /**
   * Called once per test: each test gets its own fresh root, so tests can assert exactly what a
   * list returns. Start servers in vitest's globalSetup (or once, memoised) and hand out a new
   * root here.
   */
  readonly setup: () => Promise<ConformanceTarget>;
  /**
   * Turns a test's object name (e.g. `list-a-1`) into a key the store accepts. Default
   * `${name}.tar.gz`. The key must start with the name: list tests filter by name prefixes.
   */
  readonly makeKey?: (name: string) => string;
  /** Size of the large round trip; default 64 MiB. Pick one that crosses the store's multipart threshold. */
  readonly largeObjectBytes?: number;
  /** The store's list page size, if it pages: the suite lists more objects than one page. Default 20. */
  readonly listPageHint?: number;
  /**
   * The store frees the chunks of a put body marked transient (`markTransient`) as it goes: the suite
   * then also checks that most of them were freed. Default false: freeing is optional, keeping
   * a caller's chunks intact without the flag is not.
   */
  readonly freesTransientChunks?: boolean;
}

export const DEFAULT_LARGE_OBJECT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_LIST_PAGE_HINT = 20;
export const MIN_SECRET_LENGTH = 8;
