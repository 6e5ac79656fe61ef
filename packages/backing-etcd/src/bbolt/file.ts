/**
 * A read-only reader of bbolt files (etcd's backend), after bbolt's own `page.go`, `node.go`,
 * `bucket.go` and `db.go`. Pages are read on demand from a file handle, so memory stays at a few
 * pages whatever the file's size.
 *
 * Layout (all integers little-endian):
 *   page header (16 B): id u64 | flags u16 | count u16 | overflow u32
 *   meta (after the header): magic u32 | version u32 | pageSize u32 | flags u32 | root {pgid u64,
 *     sequence u64} | freelist u64 | pgid u64 | txid u64 | checksum u64 (FNV-1a 64 of the 56 bytes before)
 *   branch element (16 B): pos u32 | ksize u32 | pgid u64      — key at element offset + pos
 *   leaf element (16 B):   flags u32 | pos u32 | ksize u32 | vsize u32 — value right after the key
 *   bucket value: root pgid u64 | sequence u64, then (root == 0) an inline page holding its elements
 */
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { VsnapError } from "@vsnap/core";

export const PAGE_HEADER_SIZE = 16;
const ELEMENT_SIZE = 16;
const BUCKET_HEADER_SIZE = 16;
export const BRANCH_PAGE = 0x01;
export const LEAF_PAGE = 0x02;
export const META_PAGE = 0x04;
export const BUCKET_LEAF_FLAG = 0x01;
const MAGIC = 0xed0cdaed;
const VERSION = 2;
/** Probed when meta page 0 is unreadable and its page size with it. */
const COMMON_PAGE_SIZES = [4096, 8192, 16384, 32768, 65536, 2048, 1024];
const CHUNK_SIZE = 1 << 20;
const CACHED_CHUNKS = 16;

export interface Meta {
  readonly pageSize: number;
  readonly rootPgid: number;
  /** Pages in use (the high-water mark): every reachable page id is below it. */
  readonly pgid: number;
  readonly txid: number;
}

/** A run of bytes holding one page (a file page span, or an inline bucket page). */
export interface PageView {
  readonly buf: Buffer;
  /** Where the page header starts within `buf`. */
  readonly start: number;
  /** File offset of `buf[0]`, to locate values for later reads. */
  readonly fileOffset: number;
  readonly flags: number;
  readonly count: number;
}

export interface LeafElement {
  readonly flags: number;
  readonly key: Buffer;
  readonly value: Buffer;
  /** File offset of the value's first byte. */
  readonly valueOffset: number;
}

function corrupt(file: string, detail: string): VsnapError {
  return new VsnapError("INTEGRITY", `${file} is not a readable bbolt (etcd) database: ${detail}`, {
    hint: "the db is truncated or corrupt, or not an etcd snapshot",
  });
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

export function fnv1a64(bytes: Buffer): bigint {
  let hash = FNV_OFFSET;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & MASK64;
  return hash;
}

function u64(buf: Buffer, offset: number): number {
  const value = buf.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`64-bit value ${value} out of range`);
  return Number(value);
}

function parseMeta(page: Buffer): Meta | undefined {
  if (page.length < PAGE_HEADER_SIZE + 64) return undefined;
  const flags = page.readUInt16LE(8);
  const m = page.subarray(PAGE_HEADER_SIZE, PAGE_HEADER_SIZE + 64);
  if ((flags & META_PAGE) === 0 || m.readUInt32LE(0) !== MAGIC || m.readUInt32LE(4) !== VERSION)
    return undefined;
  if (fnv1a64(m.subarray(0, 56)) !== m.readBigUInt64LE(56)) return undefined;
  return { pageSize: m.readUInt32LE(8), rootPgid: u64(m, 16), pgid: u64(m, 40), txid: u64(m, 48) };
}

export class BoltFile {
  readonly path: string;
  readonly meta: Meta;
  readonly size: number;
  readonly #fh: FileHandle;

  private constructor(path: string, fh: FileHandle, meta: Meta, size: number) {
    this.path = path;
    this.#fh = fh;
    this.meta = meta;
    this.size = size;
  }

  /** Opens a bbolt file, choosing the valid meta page with the highest transaction id (as bbolt does). */
  static async open(path: string): Promise<BoltFile> {
    const fh = await open(path, "r");
    try {
      const { size } = await fh.stat();
      const head = Buffer.alloc(Math.min(size, 4096));
      await fh.read(head, 0, head.length, 0);
      const meta0 = parseMeta(head);
      const candidates: Meta[] = meta0 ? [meta0] : [];
      for (const pageSize of meta0 ? [meta0.pageSize] : COMMON_PAGE_SIZES) {
        if (pageSize + PAGE_HEADER_SIZE + 64 > size) continue;
        const second = Buffer.alloc(PAGE_HEADER_SIZE + 64);
        await fh.read(second, 0, second.length, pageSize);
        const meta1 = parseMeta(second);
        if (meta1 && meta1.pageSize === pageSize) {
          candidates.push(meta1);
          break;
        }
      }
      const meta = candidates.sort((a, b) => b.txid - a.txid)[0];
      if (!meta) throw corrupt(path, "no valid meta page (bad magic, version or checksum)");
      if (meta.pageSize < 512 || meta.pageSize > 1 << 20 || (meta.pageSize & (meta.pageSize - 1)) !== 0) {
        throw corrupt(path, `implausible page size ${meta.pageSize}`);
      }
      if (meta.pgid * meta.pageSize > size) {
        throw corrupt(
          path,
          `file is ${size} bytes but its meta page counts ${meta.pgid} pages of ${meta.pageSize}`,
        );
      }
      return new BoltFile(path, fh, meta, size);
    } catch (error) {
      await fh.close();
      throw error;
    }
  }

  /** Reads page `pgid` with its overflow pages. */
  async page(pgid: number): Promise<PageView> {
    const { pageSize, pgid: highWater } = this.meta;
    if (pgid < 2 || pgid >= highWater)
      throw corrupt(this.path, `page ${pgid} is outside 2..${highWater - 1}`);
    const fileOffset = pgid * pageSize;
    let buf = await this.#readCached(fileOffset, pageSize);
    const overflow = buf.readUInt32LE(12);
    if (overflow > 0) {
      if (pgid + overflow >= highWater) throw corrupt(this.path, `page ${pgid} overflows past the end`);
      buf = await this.#readCached(fileOffset, pageSize * (overflow + 1));
    }
    const id = u64(buf, 0);
    if (id !== pgid) throw corrupt(this.path, `page ${pgid} carries id ${id}`);
    return { buf, start: 0, fileOffset, flags: buf.readUInt16LE(8), count: buf.readUInt16LE(10) };
  }

  /** Reads `length` bytes at `offset` (a value located by an earlier walk). */
  async read(offset: number, length: number): Promise<Buffer> {
    const cached = this.#fromCache(offset, length);
    if (cached) return Buffer.from(cached);
    const buf = Buffer.allocUnsafe(length);
    await this.#readExactly(buf, offset);
    return buf;
  }

  // Tree walks touch pages mostly in file order: reading 1 MiB chunks (a few kept) turns thousands
  // of page-sized reads into a few hundred. Views into a chunk stay valid after it is evicted.
  readonly #chunks = new Map<number, Buffer>();

  #fromCache(offset: number, length: number): Buffer | undefined {
    const index = Math.floor(offset / CHUNK_SIZE);
    const chunk = this.#chunks.get(index);
    const start = offset - index * CHUNK_SIZE;
    return chunk && start + length <= chunk.length ? chunk.subarray(start, start + length) : undefined;
  }

  async #readCached(offset: number, length: number): Promise<Buffer> {
    const index = Math.floor(offset / CHUNK_SIZE);
    if (offset + length > (index + 1) * CHUNK_SIZE) {
      const buf = Buffer.allocUnsafe(length); // spans chunks (a large overflow page): read it alone
      await this.#readExactly(buf, offset);
      return buf;
    }
    let chunk = this.#chunks.get(index);
    if (chunk) {
      this.#chunks.delete(index); // most recently used last
    } else {
      chunk = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, this.size - index * CHUNK_SIZE));
      await this.#readExactly(chunk, index * CHUNK_SIZE);
      if (this.#chunks.size >= CACHED_CHUNKS) this.#chunks.delete(this.#chunks.keys().next().value!);
    }
    this.#chunks.set(index, chunk);
    const start = offset - index * CHUNK_SIZE;
    if (start + length > chunk.length)
      throw corrupt(this.path, `unexpected end of file at byte ${offset + length}`);
    return chunk.subarray(start, start + length);
  }

  async #readExactly(buf: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.#fh.read(buf, done, buf.length - done, position + done);
      if (bytesRead === 0) throw corrupt(this.path, `unexpected end of file at byte ${position + done}`);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }
}

export function leafElement(page: PageView, index: number): LeafElement {
  const { buf, start } = page;
  const at = start + PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
  const flags = buf.readUInt32LE(at);
  const pos = buf.readUInt32LE(at + 4);
  const ksize = buf.readUInt32LE(at + 8);
  const vsize = buf.readUInt32LE(at + 12);
  const keyStart = at + pos;
  const valueStart = keyStart + ksize;
  if (valueStart + vsize > buf.length) throw new RangeError("leaf element runs past its page");
  return {
    flags,
    key: buf.subarray(keyStart, valueStart),
    value: buf.subarray(valueStart, valueStart + vsize),
    valueOffset: page.fileOffset + valueStart,
  };
}

export function branchChild(page: PageView, index: number): number {
  const at = page.start + PAGE_HEADER_SIZE + index * ELEMENT_SIZE;
  return u64(page.buf, at + 8);
}

/** Where a bucket's tree starts: a page id, or an inline page inside the bucket's value. */
export type BucketRoot = { readonly pgid: number } | { readonly inline: PageView };

export function bucketRoot(element: LeafElement): BucketRoot {
  if ((element.flags & BUCKET_LEAF_FLAG) === 0) throw new RangeError("not a bucket");
  const pgid = u64(element.value, 0);
  if (pgid !== 0) return { pgid };
  const { value } = element;
  const start = BUCKET_HEADER_SIZE;
  return {
    inline: {
      buf: value,
      start,
      fileOffset: element.valueOffset,
      flags: value.readUInt16LE(start + 8),
      count: value.length > start ? value.readUInt16LE(start + 10) : 0,
    },
  };
}

/**
 * Every leaf element of a bucket's tree in key order (depth first: one page per level in memory).
 */
export async function* walkBucket(file: BoltFile, root: BucketRoot): AsyncGenerator<LeafElement> {
  const first = "inline" in root ? root.inline : await file.page(root.pgid);
  const stack: { page: PageView; next: number }[] = [{ page: first, next: 0 }];
  let depth = 0;
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const { page } = top;
    if (page.flags & LEAF_PAGE) {
      for (let i = 0; i < page.count; i++) yield leafElement(page, i);
      stack.pop();
    } else if (page.flags & BRANCH_PAGE) {
      if (top.next >= page.count) {
        stack.pop();
        continue;
      }
      const child = branchChild(page, top.next++);
      if (++depth > 10_000_000) throw corrupt(file.path, "tree walk does not end (a page cycle)");
      if (stack.length > 64) throw corrupt(file.path, "tree deeper than 64 levels (a page cycle)");
      stack.push({ page: await file.page(child), next: 0 });
    } else {
      throw corrupt(file.path, `page of a bucket tree has flags 0x${page.flags.toString(16)}`);
    }
  }
}

/** The root bucket's buckets by name (etcd: key, meta, lease, members, auth, ...). */
export async function findBucket(file: BoltFile, name: string): Promise<BucketRoot | undefined> {
  const wanted = Buffer.from(name);
  for await (const element of walkBucket(file, { pgid: file.meta.rootPgid })) {
    if (element.key.equals(wanted)) {
      if ((element.flags & BUCKET_LEAF_FLAG) === 0)
        throw corrupt(file.path, `"${name}" is a key, not a bucket`);
      return bucketRoot(element);
    }
  }
  return undefined;
}
