import { crc32 } from "node:zlib";

/**
 * gzip member framing (RFC 1952) around raw deflate data. vsnap frames members itself so that
 * blocks can be compressed independently in parallel (concatenated members are one valid gzip
 * stream for gzip, Go, Python and GNU tar) and so that the last member, holding the manifest, is
 * "stored": its bytes are fully determined by its content, which lets a reader check every bit.
 */

/**
 * The header Go's compress/gzip writes (no name, mtime 0, OS 255 "unknown"); XFL marks the
 * fastest and best levels as Go does. The header has no CRC of its own: vsnap covers it with the
 * manifest's `compressed` digest instead.
 */
export function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.of(0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0xff);
}

export function gzipTrailer(crc: number, length: number): Buffer {
  const trailer = Buffer.allocUnsafe(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return trailer;
}

const STORED_MAX = 0xffff;

/** A complete gzip member holding `data` in stored (uncompressed) deflate blocks. */
export function storedGzipMember(data: Uint8Array): Buffer {
  const parts: Uint8Array[] = [gzipHeader(0)];
  let at = 0;
  do {
    const n = Math.min(STORED_MAX, data.length - at);
    const last = at + n === data.length;
    const head = Buffer.allocUnsafe(5);
    head[0] = last ? 1 : 0; // BFINAL, BTYPE=00, the five padding bits zero
    head.writeUInt16LE(n, 1);
    head.writeUInt16LE(~n & 0xffff, 3);
    parts.push(head, data.subarray(at, at + n));
    at += n;
  } while (at < data.length);
  parts.push(gzipTrailer(crc32(data), data.length));
  return Buffer.concat(parts);
}

/**
 * Checks that `member` is exactly what `storedGzipMember` writes for its content and returns
 * that content, or a sentence saying what differs.
 */
export function parseStoredGzipMember(member: Buffer): { data: Buffer } | { error: string } {
  const header = gzipHeader(0);
  if (member.length < header.length + 5 + 8 || !member.subarray(0, header.length).equals(header)) {
    return { error: "the manifest's gzip member header is not the one vsnap writes" };
  }
  const blocks: Buffer[] = [];
  let at = header.length;
  for (;;) {
    if (at + 5 > member.length) return { error: "the manifest's gzip member is cut short" };
    const flag = member[at]!;
    if (flag !== 0 && flag !== 1) {
      return { error: "the manifest's gzip member is not stored as vsnap writes it" };
    }
    const n = member.readUInt16LE(at + 1);
    if (member.readUInt16LE(at + 3) !== (~n & 0xffff)) {
      return { error: "the manifest's gzip block length is corrupt" };
    }
    if (at + 5 + n > member.length) return { error: "the manifest's gzip member is cut short" };
    blocks.push(member.subarray(at + 5, at + 5 + n));
    at += 5 + n;
    if (flag === 1) break;
    if (n !== STORED_MAX) return { error: "the manifest's gzip member is not stored as vsnap writes it" };
  }
  const data = Buffer.concat(blocks);
  if (at + 8 !== member.length) return { error: "unexpected bytes after the manifest's gzip member" };
  if (!member.subarray(at).equals(gzipTrailer(crc32(data), data.length))) {
    return { error: "the manifest's gzip member checksum does not match" };
  }
  return { data };
}
