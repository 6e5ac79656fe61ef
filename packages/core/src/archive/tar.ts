import { posix } from "node:path";

/**
 * Tar headers, written exactly as Go's archive/tar writes vCluster's entries (so that archives
 * of both tools look alike to every tar reader) and read as Go reads them, plus GNU long names.
 * Go's choice per entry: USTAR when the name is ASCII and fits in `name`, or splits at a `/`
 * into `prefix` (<= 155) + `name` (<= 100); otherwise PAX: an `x` header named
 * `<dir>/PaxHeaders.0/<base>` holding the `path` (and `size` at 8 GiB and up) records.
 */

export const BLOCK = 512;
const NAME_SIZE = 100;
const PREFIX_SIZE = 155;
/** Go refuses PAX/GNU extension data above 1 MiB; so do we, when reading. */
export const MAX_SPECIAL_FILE_SIZE = 1 << 20;
/** 8 GiB - 1: the largest size an 11-digit octal field holds. */
const MAX_OCTAL_SIZE = 0o77777777777;

const O_NAME = 0;
const O_MODE = 100;
const O_UID = 108;
const O_GID = 116;
const O_SIZE = 124;
const O_MTIME = 136;
const O_CHKSUM = 148;
const O_TYPEFLAG = 156;
const O_MAGIC = 257;
const O_DEVMAJOR = 329;
const O_DEVMINOR = 337;
const O_PREFIX = 345;

const SLASH = 0x2f;
const ASCII = (s: string) => Buffer.from(s, "latin1");

// ---------------------------------------------------------------------------------------------
// Writing

/** Go's `formatter.formatString`: copy, NUL-terminate when shorter, never end a cut name in `/`. */
function formatString(block: Uint8Array, offset: number, size: number, value: Uint8Array): void {
  block.set(value.length > size ? value.subarray(0, size) : value, offset);
  if (value.length < size) block[offset + value.length] = 0;
  if (value.length > size && block[offset + size - 1] === SLASH) {
    let n = size - 1;
    while (n > 0 && value[n - 1] === SLASH) n--;
    block[offset + n] = 0;
  }
}

/** Go's `formatter.formatOctal`: zero-padded, NUL-terminated; 0 when it does not fit. */
function formatOctal(block: Uint8Array, offset: number, size: number, value: number): void {
  const fits = value >= 0 && value < 2 ** (3 * (size - 1));
  const digits = (fits ? value : 0).toString(8).padStart(size - 1, "0");
  formatString(block, offset, size, ASCII(digits));
}

/** Go's `block.setFormat` for USTAR/PAX: magic, version, then the checksum ("%06o\0 "). */
function finishUstar(block: Uint8Array): void {
  block.set(USTAR_MAGIC, O_MAGIC);
  block.fill(0x20, O_CHKSUM, O_CHKSUM + 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  formatOctal(block, O_CHKSUM, 7, sum);
  block[O_CHKSUM + 7] = 0x20;
}

const USTAR_MAGIC = ASCII("ustar\u000000");

/** The fields Go's `templateV7Plus` sets for vCluster's headers (mode 0666, all else zero). */
function regularTemplate(): Uint8Array {
  const block = new Uint8Array(BLOCK);
  block[O_TYPEFLAG] = 0x30; // '0', TypeReg
  formatOctal(block, O_MODE, 8, 0o666);
  formatOctal(block, O_UID, 8, 0);
  formatOctal(block, O_GID, 8, 0);
  formatOctal(block, O_MTIME, 12, 0);
  formatOctal(block, O_DEVMAJOR, 8, 0);
  formatOctal(block, O_DEVMINOR, 8, 0);
  block.set(USTAR_MAGIC, O_MAGIC);
  return block;
}
const TEMPLATE = regularTemplate();
// Checksum of the template with the checksum field counted as spaces; names and sizes add to it.
const TEMPLATE_SUM = TEMPLATE.reduce((a, b) => a + b, 0) + 8 * 0x20;

/** Go's `splitUSTARPath` (the name is already known to be ASCII). Returns the split index or -1. */
function splitUstar(name: Uint8Array): number {
  let length = name.length;
  if (length <= NAME_SIZE) return -1;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name[length - 1] === SLASH) length--;
  const i = name.lastIndexOf(SLASH, length - 1);
  const suffix = name.length - i - 1;
  if (i <= 0 || suffix > NAME_SIZE || suffix === 0 || i > PREFIX_SIZE) return -1;
  return i;
}

function isAsciiName(name: string, bytes: Uint8Array): boolean {
  // A UTF-8 encoding as long as the string has only code units below 0x80. NUL was refused before.
  return bytes.length === name.length;
}

/**
 * Writes the header block(s) of a regular file entry into `out` at `offset` and returns the
 * offset after them. `out` must have room for `headerSize(...)` bytes.
 */
export function writeFileHeader(
  out: Uint8Array,
  offset: number,
  name: string,
  nameBytes: Uint8Array,
  size: number,
): number {
  const ascii = isAsciiName(name, nameBytes);
  const sizeFits = size <= MAX_OCTAL_SIZE;
  if (ascii && sizeFits) {
    if (nameBytes.length <= NAME_SIZE) {
      writeUstar(out, offset, nameBytes, undefined, size);
      return offset + BLOCK;
    }
    const split = splitUstar(nameBytes);
    if (split > 0) {
      writeUstar(out, offset, nameBytes.subarray(split + 1), nameBytes.subarray(0, split), size);
      return offset + BLOCK;
    }
  }
  return writePax(out, offset, name, nameBytes, size, ascii, sizeFits);
}

/** Bytes `writeFileHeader` will write for this entry. */
export function headerSize(name: string, nameBytes: Uint8Array, size: number): number {
  const ascii = isAsciiName(name, nameBytes);
  if (ascii && size <= MAX_OCTAL_SIZE && (nameBytes.length <= NAME_SIZE || splitUstar(nameBytes) > 0)) {
    return BLOCK;
  }
  const records = paxRecords(nameBytes, size, ascii, size <= MAX_OCTAL_SIZE);
  return BLOCK + padded(records.length) + BLOCK;
}

function writeUstar(
  out: Uint8Array,
  offset: number,
  name: Uint8Array,
  prefix: Uint8Array | undefined,
  size: number,
): void {
  out.set(TEMPLATE, offset);
  let sum = TEMPLATE_SUM;
  out.set(name, offset + O_NAME);
  for (let i = 0; i < name.length; i++) sum += name[i]!;
  if (prefix) {
    out.set(prefix, offset + O_PREFIX);
    for (let i = 0; i < prefix.length; i++) sum += prefix[i]!;
  }
  // Size: 11 zero-padded octal digits and a NUL.
  const digits = size.toString(8);
  const sizeAt = offset + O_SIZE + 11 - digits.length;
  out.fill(0x30, offset + O_SIZE, sizeAt);
  sum += 0x30 * (11 - digits.length);
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    out[sizeAt + i] = c;
    sum += c;
  }
  const chk = sum.toString(8).padStart(6, "0");
  for (let i = 0; i < 6; i++) out[offset + O_CHKSUM + i] = chk.charCodeAt(i);
  out[offset + O_CHKSUM + 6] = 0;
  out[offset + O_CHKSUM + 7] = 0x20;
}

/** Go's `formatPAXRecord`: "<len> <key>=<value>\n", the length counting its own digits. */
function paxRecord(key: string, value: Uint8Array): Buffer {
  const body = 3 + Buffer.byteLength(key) + value.length;
  let size = body + String(body).length;
  if (String(size).length + body !== size) size = String(size).length + body;
  return Buffer.concat([ASCII(`${size} ${key}=`), value, ASCII("\n")]);
}

function paxRecords(nameBytes: Uint8Array, size: number, ascii: boolean, sizeFits: boolean): Buffer {
  const records: Buffer[] = []; // sorted by key, as Go sorts them: path < size
  const nameNeedsPax = !ascii || (nameBytes.length > NAME_SIZE && splitUstar(nameBytes) < 0);
  if (nameNeedsPax) records.push(paxRecord("path", nameBytes));
  if (!sizeFits) records.push(paxRecord("size", ASCII(String(size))));
  return Buffer.concat(records);
}

/** Go's `toASCII`: drops every non-ASCII character (and NUL). */
function toAscii(s: string): string {
  return s.replace(/[^\u0001-\u007f]/gu, "");
}

/** Go's `path.Clean` (posix.normalize keeps a trailing slash; Clean does not). */
function goClean(p: string): string {
  if (p === "") return ".";
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/** The name Go gives an entry's PAX header: path.Join(dir, "PaxHeaders.0", base), ASCII, <= 100. */
export function paxHeaderName(name: string): string {
  const slash = name.lastIndexOf("/");
  const dir = name.slice(0, slash + 1);
  const base = name.slice(slash + 1);
  const joined = goClean([dir, "PaxHeaders.0", base].filter((e) => e !== "").join("/"));
  let ascii = toAscii(joined);
  if (ascii.length > NAME_SIZE) ascii = ascii.slice(0, NAME_SIZE);
  return ascii.replace(/\/+$/u, "");
}

function writePax(
  out: Uint8Array,
  offset: number,
  name: string,
  nameBytes: Uint8Array,
  size: number,
  ascii: boolean,
  sizeFits: boolean,
): number {
  const data = paxRecords(nameBytes, size, ascii, sizeFits);
  // Go's writeRawFile: a bare header (mode/uid/gid/mtime 0, no devmajor/devminor) + the records.
  const x = out.subarray(offset, offset + BLOCK);
  x.fill(0);
  formatString(x, O_NAME, NAME_SIZE, ASCII(paxHeaderName(name)));
  formatOctal(x, O_MODE, 8, 0);
  formatOctal(x, O_UID, 8, 0);
  formatOctal(x, O_GID, 8, 0);
  formatOctal(x, O_SIZE, 12, data.length);
  formatOctal(x, O_MTIME, 12, 0);
  x[O_TYPEFLAG] = 0x78; // 'x'
  finishUstar(x);
  offset += BLOCK;
  out.set(data, offset);
  out.fill(0, offset + data.length, offset + padded(data.length));
  offset += padded(data.length);
  // The main header: Go's templateV7Plus with every string made ASCII; no prefix split.
  const main = out.subarray(offset, offset + BLOCK);
  main.set(TEMPLATE);
  formatString(main, O_NAME, NAME_SIZE, ASCII(ascii ? name : toAscii(name)));
  formatOctal(main, O_SIZE, 12, size);
  finishUstar(main);
  return offset + BLOCK;
}

export function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

// ---------------------------------------------------------------------------------------------
// Reading

export type HeaderType = "file" | "pax" | "pax-global" | "gnu-long-name" | "gnu-long-link" | "other";

export interface RawHeader {
  readonly name: Buffer;
  readonly size: number;
  readonly typeflag: number;
  readonly type: HeaderType;
}

export class TarFormatError extends Error {}

/** True when all 512 bytes are zero (an end-of-archive block). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i += 8) {
    if (
      block[i] !== 0 ||
      block[i + 1] !== 0 ||
      block[i + 2] !== 0 ||
      block[i + 3] !== 0 ||
      block[i + 4] !== 0 ||
      block[i + 5] !== 0 ||
      block[i + 6] !== 0 ||
      block[i + 7] !== 0
    ) {
      return false;
    }
  }
  return true;
}

function cString(block: Uint8Array, offset: number, size: number): Buffer {
  const field = Buffer.from(block.buffer, block.byteOffset + offset, size);
  const nul = field.indexOf(0);
  return nul < 0 ? field : field.subarray(0, nul);
}

/** Go's `parseNumeric`: base-256 when the top bit is set, else octal between spaces/NULs. */
function parseNumber(block: Uint8Array, offset: number, size: number, what: string): number {
  const first = block[offset]!;
  if (first & 0x80) {
    if (first === 0xff) throw new TarFormatError(`negative ${what}`);
    let value = first & 0x7f;
    for (let i = 1; i < size; i++) value = value * 256 + block[offset + i]!;
    if (!Number.isSafeInteger(value)) throw new TarFormatError(`${what} out of range`);
    return value;
  }
  let start = offset;
  let end = offset + size;
  while (start < end && (block[start] === 0x20 || block[start] === 0)) start++;
  while (end > start && (block[end - 1] === 0x20 || block[end - 1] === 0)) end--;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = block[i]! - 0x30;
    if (d < 0 || d > 7) throw new TarFormatError(`invalid ${what} field`);
    value = value * 8 + d;
  }
  return value;
}

/** Go's checksum check: the unsigned or the signed sum, with the field itself as spaces. */
function checksumMatches(block: Uint8Array): boolean {
  const stored = parseNumber(block, O_CHKSUM, 8, "checksum");
  let unsigned = 8 * 0x20;
  for (let i = 0; i < O_CHKSUM; i++) unsigned += block[i]!;
  for (let i = O_CHKSUM + 8; i < BLOCK; i++) unsigned += block[i]!;
  if (stored === unsigned) return true;
  // Some old tars summed signed bytes.
  let signed = unsigned;
  for (let i = 0; i < BLOCK; i++) if (block[i]! > 127 && (i < O_CHKSUM || i >= O_CHKSUM + 8)) signed -= 256;
  return stored === signed;
}

const TYPES: Record<number, HeaderType> = {
  48: "file", // '0'
  0: "file", // pre-POSIX regular file
  55: "file", // '7' contiguous file
  120: "pax", // 'x'
  103: "pax-global", // 'g'
  76: "gnu-long-name", // 'L'
  75: "gnu-long-link", // 'K'
};

/** Parses and checks one header block (not a zero block). */
export function parseHeader(block: Uint8Array): RawHeader {
  if (!checksumMatches(block)) throw new TarFormatError("tar header checksum mismatch");
  const typeflag = block[O_TYPEFLAG]!;
  let name = cString(block, O_NAME, NAME_SIZE);
  const magic = Buffer.from(block.buffer, block.byteOffset + O_MAGIC, 6);
  // POSIX ustar ("ustar\0") has a prefix field; GNU ("ustar ") uses that area otherwise.
  if (magic.equals(USTAR_MAGIC.subarray(0, 6))) {
    const prefix = cString(block, O_PREFIX, PREFIX_SIZE);
    if (prefix.length > 0) name = Buffer.concat([prefix, Buffer.of(SLASH), name]);
  }
  const size = parseNumber(block, O_SIZE, 12, "size");
  return { name, size, typeflag, type: TYPES[typeflag] ?? "other" };
}

/** Parses PAX records ("<len> <key>=<value>\n"...) into a map of raw values. */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) throw new TarFormatError("malformed PAX record");
    const length = Number(data.toString("latin1", at, space));
    if (
      !Number.isInteger(length) ||
      length <= 0 ||
      at + length > data.length ||
      data[at + length - 1] !== 0x0a
    ) {
      throw new TarFormatError("malformed PAX record");
    }
    const eq = data.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= at + length) throw new TarFormatError("malformed PAX record");
    records.set(data.toString("utf8", space + 1, eq), data.subarray(eq + 1, at + length - 1));
    at += length;
  }
  return records;
}
