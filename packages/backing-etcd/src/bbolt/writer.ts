/**
 * Writes a new bbolt file in one sequential pass (the layout `file.ts` reads). Each bucket is
 * streamed as a B+tree built bottom-up: a leaf page is written once full, and its first key goes
 * into the branch page above it, which is written once full in turn. Memory stays at one page per
 * tree level plus the write buffer, whatever the file's size.
 *
 * Within a page, element headers fill it from the front and keys/values from the back: bbolt finds
 * each key through its element's offset, so where the bytes sit in the page does not matter.
 */
import type { FileHandle } from "node:fs/promises";
import { open, rm } from "node:fs/promises";
import { releaseView, VsnapError } from "@vsnap/core";
import { BRANCH_PAGE, BUCKET_LEAF_FLAG, fnv1a64, LEAF_PAGE, META_PAGE, PAGE_HEADER_SIZE } from "./file.js";

const ELEMENT_SIZE = 16;
const FREELIST_PAGE = 0x10;
const MAGIC = 0xed0cdaed;
const VERSION = 2;
const WRITE_BUFFER = 4 << 20;
/** bbolt's MaxKeySize. */
const MAX_KEY_SIZE = 32768;

export const DEFAULT_PAGE_SIZE = 4096;

/** One page being filled: element headers from the front, keys and values from the back. */
class PageBuilder {
  readonly buf: Buffer;
  count = 0;
  #dataStart: number;
  firstKey: Buffer | undefined;

  constructor(
    readonly size: number,
    readonly flags: number,
  ) {
    this.buf = Buffer.alloc(size);
    this.#dataStart = size;
  }

  fits(dataBytes: number): boolean {
    return PAGE_HEADER_SIZE + (this.count + 1) * ELEMENT_SIZE + dataBytes <= this.#dataStart;
  }

  /** A leaf element: flags, then the key and the value (given in parts, copied once). */
  addLeaf(key: Uint8Array, value: readonly Uint8Array[], flags: number): void {
    const at = this.#element(key);
    let valueLength = 0;
    for (const part of value) valueLength += part.length;
    this.#dataStart -= key.length + valueLength;
    this.buf.set(key, this.#dataStart);
    let to = this.#dataStart + key.length;
    for (const part of value) {
      this.buf.set(part, to);
      to += part.length;
    }
    this.buf.writeUInt32LE(flags, at);
    this.buf.writeUInt32LE(this.#dataStart - at, at + 4);
    this.buf.writeUInt32LE(key.length, at + 8);
    this.buf.writeUInt32LE(valueLength, at + 12);
  }

  /** A branch element: the child's first key and page id. */
  addBranch(key: Uint8Array, pgid: number): void {
    const at = this.#element(key);
    this.#dataStart -= key.length;
    this.buf.set(key, this.#dataStart);
    this.buf.writeUInt32LE(this.#dataStart - at, at);
    this.buf.writeUInt32LE(key.length, at + 4);
    this.buf.writeBigUInt64LE(BigInt(pgid), at + 8);
  }

  #element(key: Uint8Array): number {
    if (this.count === 0) this.firstKey = Buffer.from(key);
    return PAGE_HEADER_SIZE + this.count++ * ELEMENT_SIZE;
  }

  reset(): void {
    this.count = 0;
    this.#dataStart = this.size;
    this.firstKey = undefined;
  }
}

export interface BucketRootRef {
  readonly name: Buffer;
  /** The bucket's root page, or 0 for an empty (inline) bucket. */
  readonly root: number;
}

/** Streams keys in ascending byte order into one bucket. */
export class BucketWriter {
  readonly #file: BoltWriter;
  readonly #leaf: PageBuilder;
  /** Branch pages in progress, lowest level first. */
  readonly #levels: PageBuilder[] = [];
  #lastKey: Buffer | undefined;

  constructor(file: BoltWriter) {
    this.#file = file;
    this.#leaf = new PageBuilder(file.pageSize, LEAF_PAGE);
  }

  /** Adds `key` with a value given in parts (their concatenation). */
  async put(key: Uint8Array, ...value: Uint8Array[]): Promise<void> {
    if (key.length === 0 || key.length > MAX_KEY_SIZE) {
      throw new VsnapError(
        "INVALID_ARGUMENT",
        `a bbolt key must be 1 to ${MAX_KEY_SIZE} bytes, got ${key.length}`,
      );
    }
    if (this.#lastKey && Buffer.compare(this.#lastKey, key) >= 0) {
      throw new VsnapError("INTERNAL", "bbolt keys must be written in ascending order, each once");
    }
    this.#lastKey = Buffer.from(key);
    let bytes = key.length;
    for (const part of value) bytes += part.length;
    if (this.#leaf.count > 0 && !this.#leaf.fits(bytes)) await this.#flushLeaf();
    if (this.#leaf.fits(bytes)) {
      this.#leaf.addLeaf(key, value, 0);
      return;
    }
    // Larger than a page: a page with overflow pages of its own, one element long.
    const span = Math.ceil((PAGE_HEADER_SIZE + ELEMENT_SIZE + bytes) / this.#file.pageSize);
    const page = new PageBuilder(span * this.#file.pageSize, LEAF_PAGE);
    page.addLeaf(key, value, 0);
    const pgid = await this.#file.writePage(page, span);
    // written or copied into the write buffer: free it now, not at V8's next full collection
    releaseView(page.buf);
    await this.#addChild(0, page.firstKey!, pgid);
  }

  /** Writes the pages still open and returns the bucket's root page (0: the bucket is empty). */
  async finish(): Promise<number> {
    if (this.#leaf.count > 0) await this.#flushLeaf();
    for (let level = 0; level < this.#levels.length; level++) {
      const page = this.#levels[level]!;
      const above = this.#levels[level + 1];
      if ((!above || above.count === 0) && page.count === 1) {
        return Number(page.buf.readBigUInt64LE(PAGE_HEADER_SIZE + 8)); // its only child is the root
      }
      const first = page.firstKey!;
      const pgid = await this.#file.writePage(page, 1);
      page.reset();
      await this.#addChild(level + 1, first, pgid);
    }
    return 0;
  }

  async #flushLeaf(): Promise<void> {
    const first = this.#leaf.firstKey!;
    const pgid = await this.#file.writePage(this.#leaf, 1);
    this.#leaf.reset();
    await this.#addChild(0, first, pgid);
  }

  /** Points the branch page at `level` to a written page, writing the branch page first if full. */
  async #addChild(level: number, key: Uint8Array, pgid: number): Promise<void> {
    while (this.#levels.length <= level) this.#levels.push(new PageBuilder(this.#file.pageSize, BRANCH_PAGE));
    const page = this.#levels[level]!;
    if (page.count > 0 && !page.fits(key.length)) {
      const first = page.firstKey!;
      const written = await this.#file.writePage(page, 1);
      page.reset();
      await this.#addChild(level + 1, first, written);
    }
    page.addBranch(key, pgid);
  }
}

/**
 * A new bbolt file: pages 0 and 1 are the meta pages (written last), then bucket pages in the
 * order written, then the root bucket's page and an empty freelist.
 */
export class BoltWriter {
  readonly pageSize: number;
  readonly #fh: FileHandle;
  readonly #path: string;
  #next = 2;
  /** Two write buffers: one fills while the other is being written. */
  readonly #buffers = [Buffer.allocUnsafe(WRITE_BUFFER), Buffer.allocUnsafe(WRITE_BUFFER)];
  #current = 0;
  #used = 0;
  #flushed = 0;
  #pending: Promise<unknown> = Promise.resolve();
  readonly #buckets: BucketRootRef[] = [];

  private constructor(path: string, fh: FileHandle, pageSize: number) {
    this.#path = path;
    this.#fh = fh;
    this.pageSize = pageSize;
  }

  /** Creates `path` (which must not exist). */
  static async create(path: string, pageSize = DEFAULT_PAGE_SIZE): Promise<BoltWriter> {
    return new BoltWriter(path, await open(path, "wx", 0o600), pageSize);
  }

  /** Streams one bucket; buckets are written one after another, each with its keys in order. */
  async bucket(name: string, fill: (bucket: BucketWriter) => Promise<void>): Promise<void> {
    if (this.#buckets.some((b) => b.name.toString() === name)) {
      throw new VsnapError("INTERNAL", `bbolt bucket "${name}" written twice`);
    }
    const writer = new BucketWriter(this);
    await fill(writer);
    this.#buckets.push({ name: Buffer.from(name), root: await writer.finish() });
  }

  /** Writes a page (and its overflow pages) and returns its id. */
  async writePage(page: PageBuilder, span: number): Promise<number> {
    const pgid = this.#next;
    this.#next += span;
    const bytes = span * this.pageSize;
    page.buf.writeBigUInt64LE(BigInt(pgid), 0);
    page.buf.writeUInt16LE(page.flags, 8);
    page.buf.writeUInt16LE(page.count, 10);
    page.buf.writeUInt32LE(span - 1, 12);
    if (this.#used + bytes > WRITE_BUFFER) await this.#flush();
    if (bytes > WRITE_BUFFER) {
      await this.#write(page.buf.subarray(0, bytes));
      return pgid;
    }
    page.buf.copy(this.#buffers[this.#current]!, this.#used, 0, bytes);
    this.#used += bytes;
    return pgid;
  }

  /**
   * Writes the root bucket, an empty freelist and the meta pages. Not fsynced: the file is scratch
   * input for etcd's restore tool, which copies it into the data dir and commits the copy (bbolt's
   * commit fsyncs it); unsynced, it can be deleted before the kernel ever writes it out.
   */
  async finish(): Promise<void> {
    const buckets = [...this.#buckets].sort((a, b) => Buffer.compare(a.name, b.name));
    const root = new PageBuilder(this.pageSize, LEAF_PAGE);
    for (const bucket of buckets) {
      // bucket header (root pgid, sequence); an empty bucket is inline: a page header with no elements
      const value = Buffer.alloc(bucket.root === 0 ? 32 : 16);
      value.writeBigUInt64LE(BigInt(bucket.root), 0);
      if (bucket.root === 0) value.writeUInt16LE(LEAF_PAGE, 16 + 8);
      if (!root.fits(bucket.name.length + value.length)) {
        throw new VsnapError("INTERNAL", "too many bbolt buckets for one root page");
      }
      root.addLeaf(bucket.name, [value], BUCKET_LEAF_FLAG);
    }
    const rootPgid = await this.writePage(root, 1);
    const freelist = new PageBuilder(this.pageSize, FREELIST_PAGE);
    const freelistPgid = await this.writePage(freelist, 1);
    await this.#flush();
    await this.#pending;
    const highWater = this.#next;
    for (const [pgid, txid] of [
      [0, 1],
      [1, 2],
    ] as const) {
      const meta = Buffer.alloc(this.pageSize);
      meta.writeBigUInt64LE(BigInt(pgid), 0);
      meta.writeUInt16LE(META_PAGE, 8);
      const m = meta.subarray(PAGE_HEADER_SIZE);
      m.writeUInt32LE(MAGIC, 0);
      m.writeUInt32LE(VERSION, 4);
      m.writeUInt32LE(this.pageSize, 8);
      m.writeUInt32LE(0, 12); // flags
      m.writeBigUInt64LE(BigInt(rootPgid), 16);
      m.writeBigUInt64LE(0n, 24); // root sequence
      m.writeBigUInt64LE(BigInt(freelistPgid), 32);
      m.writeBigUInt64LE(BigInt(highWater), 40);
      m.writeBigUInt64LE(BigInt(txid), 48);
      m.writeBigUInt64LE(fnv1a64(m.subarray(0, 56)), 56);
      await this.#fh.write(meta, 0, meta.length, pgid * this.pageSize);
    }
    await this.#fh.close();
  }

  /** Closes and removes a file that will not be finished. */
  async abandon(): Promise<void> {
    await this.#pending.catch(() => undefined);
    await this.#fh.close().catch(() => undefined);
    await rm(this.#path, { force: true });
  }

  async #flush(): Promise<void> {
    if (this.#used === 0) return;
    await this.#write(this.#buffers[this.#current]!.subarray(0, this.#used));
    // the other buffer's write was awaited by #write: it is free to fill
    this.#current ^= 1;
    this.#used = 0;
  }

  /** Starts a write once the one before it is done; pages land at their ids' offsets. */
  async #write(bytes: Buffer): Promise<void> {
    await this.#pending;
    const position = 2 * this.pageSize + this.#flushed;
    this.#flushed += bytes.length;
    this.#pending = this.#fh.write(bytes, 0, bytes.length, position);
  }
}
