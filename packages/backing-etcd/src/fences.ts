import type { EtcdClient } from "./client.js";
import { keyAfter } from "./keys.js";

/** One fence every this many keys: a value page ends at a fence, so it spans about its limit. */
export const FENCE_SPACING = 256;
/** Keys per keys-only page of the fence pass (a few MiB of keys). */
export const FENCE_PAGE_KEYS = 50_000;
/** Keys in the first keys-only page: no value page can overlap it, so it is small and the first values come soon. */
export const FIRST_FENCE_PAGE_KEYS = 4096;

/**
 * Why fences: etcd answers a range with a limit by first walking its index from the range's start
 * to its end (3.4 collects every revision there, 3.5 still counts them), so paging through N keys
 * with open-ended pages costs O(N² / page size) on the server: on 3.4, a 1,000-key page at the start
 * of 300k keys took 58 ms against 3 ms with a bounded end. A keys-only pass at the same pinned
 * revision, in large pages, finds every FENCE_SPACING-th key; each value page then asks for
 * `[start, fence)`, so the server walks only about what it returns.
 */
export class Fences {
  readonly #client: EtcdClient;
  readonly #rangeEnd: Buffer;
  readonly #revision: number;
  readonly #signal: AbortSignal | undefined;
  readonly #pageKeys: number;
  /** Known fences past the reader's position, ascending. */
  #fences: Buffer[] = [];
  /** Where the next keys-only page starts; undefined once the range is exhausted. */
  #next: Buffer | undefined;
  /** Keys seen by the fence pass, to place a fence every FENCE_SPACING of them. */
  #seen = 0;
  /** The keys-only page being read, if any, and what it failed with. */
  #loading: Promise<void> | undefined;
  #failure: { error: unknown } | undefined;

  constructor(
    client: EtcdClient,
    range: { readonly key: Buffer; readonly rangeEnd: Buffer },
    revision: number,
    signal: AbortSignal | undefined,
    pageKeys = FENCE_PAGE_KEYS,
  ) {
    this.#client = client;
    this.#pageKeys = pageKeys;
    this.#rangeEnd = range.rangeEnd;
    this.#revision = revision;
    this.#signal = signal;
    this.#next = range.key;
  }

  /**
   * The end of a page from `start` holding about `keys` keys (never fewer than a fence's worth),
   * or the range's own end when fewer remain. The next keys-only page is read ahead once half of
   * the known fences are used, so value pages seldom wait for one.
   */
  async endFor(start: Buffer, keys: number): Promise<Buffer> {
    // whole groups only: from anywhere before the first fence, `wanted` fences hold at most `keys`
    const wanted = Math.max(1, Math.floor(keys / FENCE_SPACING));
    const lowWater = Math.max(wanted, Math.floor(this.#pageKeys / FENCE_SPACING / 2));
    while (true) {
      if (this.#failure) throw this.#failure.error;
      let skip = 0;
      while (skip < this.#fences.length && Buffer.compare(this.#fences[skip]!, start) <= 0) skip++;
      if (skip > 0) this.#fences = this.#fences.slice(skip);
      if (this.#fences.length < lowWater) this.#readAhead();
      if (this.#fences.length >= wanted) return this.#fences[wanted - 1]!;
      if (!this.#loading) return this.#rangeEnd;
      await this.#loading;
    }
  }

  /** Starts reading the next keys-only page, unless one is being read or none is left. */
  #readAhead(): void {
    if (this.#loading || this.#next === undefined) return;
    this.#loading = this.#loadPage(this.#next)
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => {
        this.#loading = undefined;
      });
  }

  async #loadPage(from: Buffer): Promise<void> {
    const limit = this.#seen === 0 ? Math.min(this.#pageKeys, FIRST_FENCE_PAGE_KEYS) : this.#pageKeys;
    const page = await this.#client.rangeKeySample(
      { key: from, rangeEnd: this.#rangeEnd, limit, revision: this.#revision },
      FENCE_SPACING,
      this.#seen,
      { signal: this.#signal },
    );
    // the first key of every group after the first: a page from a fence holds FENCE_SPACING keys
    this.#fences.push(...page.sampled);
    this.#seen += page.keys;
    this.#next = page.more && page.last ? keyAfter(page.last) : undefined;
  }
}
