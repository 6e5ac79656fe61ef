// Shared by the archive tests: in-memory read points, byte collection and external tools.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ArchiveMetadata,
  type ArchiveWriter,
  type WriteArchiveOptions,
  writeArchive,
} from "../src/archive/index.js";
import type { DatabaseReadPoint, KeyValue, KeyValueReadPoint } from "../src/backing.js";

export const TOOL_VERSION = "0.1.0-test";

export const METADATA: ArchiveMetadata = {
  release: {
    releaseName: "my-vcluster",
    releaseNamespace: "team-a",
    chartName: "vcluster",
    chartVersion: "0.30.0",
    values: Buffer.from("controlPlane:\n  backingStore: {}\n").toString("base64"),
  },
  request: {
    metadata: { name: "snap-1", creationTimestamp: "2026-11-24T10:00:00Z" },
    spec: { url: "s3://bucket/snap-1.tar.gz" },
    status: { phase: "CreatingEtcdBackup" },
  },
  vclusterConfig: "controlPlane:\n  distro: k8s\n",
  volumes: [{ pvc: "data-0", snapshot: "vs-1" }],
};

export interface KvOptions {
  readonly revision?: number;
  readonly kind?: string;
  /** Called before each key is yielded (lets tests count pulls, throw or stall). */
  readonly onPull?: (index: number) => void | Promise<void>;
  readonly onClose?: () => void;
}

/** A kv read point over a fixed list or a generator of entries. */
export function kvReadPoint(
  entries: Iterable<KeyValue> | (() => AsyncIterable<KeyValue>),
  options: KvOptions = {},
): KeyValueReadPoint {
  return {
    mode: "kv",
    kind: options.kind ?? "sqlite",
    revision: options.revision ?? 4242,
    totals: {},
    async *entries(signal?: AbortSignal) {
      let index = 0;
      try {
        const source = typeof entries === "function" ? entries() : entries;
        for await (const entry of source as AsyncIterable<KeyValue>) {
          signal?.throwIfAborted();
          await options.onPull?.(index++);
          yield entry;
        }
      } finally {
        options.onClose?.();
      }
    },
    async close() {},
  };
}

export function dbReadPoint(
  data: Buffer | { size: number; chunks: () => AsyncIterable<Uint8Array> },
  revision = 77,
): DatabaseReadPoint {
  return {
    mode: "db",
    kind: "etcd",
    revision,
    totals: { bytes: Buffer.isBuffer(data) ? data.length : data.size },
    async database() {
      if (Buffer.isBuffer(data)) {
        return { size: data.length, chunks: chunked(data, 64 * 1024) };
      }
      return { size: data.size, chunks: data.chunks() };
    },
    async close() {},
  };
}

export function kv(key: string, value: string | Buffer): KeyValue {
  return { key, value: typeof value === "string" ? Buffer.from(value) : value };
}

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** Writes an archive fully into memory; returns the bytes and the manifest. */
export async function archiveBytes(
  options: Omit<WriteArchiveOptions, "toolVersion"> & { toolVersion?: string },
) {
  const writer: ArchiveWriter = writeArchive({ toolVersion: TOOL_VERSION, ...options });
  const bytes = await collect(writer.stream);
  return { bytes, manifest: await writer.done };
}

export async function* chunked(data: Buffer, size = 4096): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs a program with optional stdin; never throws on a non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  input?: Buffer,
  cwd?: string,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], ...(cwd ? { cwd } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }),
    );
    child.stdin.on("error", () => {}); // a tool may exit before reading all input
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** Runs a python3 script with `input` on stdin and returns its stdout (throws on failure). */
export async function python(script: string, input?: Buffer, args: readonly string[] = []): Promise<Buffer> {
  const result = await run("python3", ["-c", script, ...args], input);
  if (result.code !== 0) throw new Error(`python3 failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "vsnap-archive-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A deterministic pseudo-random generator (xorshift32), so failures reproduce. */
export function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** A value shaped like a Kubernetes object in etcd (protobuf envelope, repetitive text). */
export function objectValue(i: number, size: number): Buffer {
  let s = `k8s\u0000\n\u000b\n\u0002v1\u0012\u0003Pod{"metadata":{"name":"pod-${i}","namespace":"ns-${i % 37}","uid":"${((i * 2654435761) >>> 0).toString(16)}-4c1f","resourceVersion":"${1000 + i}","labels":{"app":"app-${i % 13}"}},"spec":{"containers":[{"name":"c","image":"registry.example.com/team/app-${i % 13}:v${i % 7}"}],"nodeName":"node-${i % 5}"},"status":{"phase":"Running","podIP":"10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"}}`;
  while (s.length < size) s += `,"a-${s.length}":"${(s.length * 7919 + i).toString(36)}"`;
  return Buffer.from(s.slice(0, size));
}

/** Lists the gzip members of a file by walking it with python's zlib (offset of each member). */
export async function gzipMembers(data: Buffer): Promise<number[]> {
  const out = await python(
    `
import sys, zlib
data = sys.stdin.buffer.read()
at, offsets = 0, []
while at < len(data):
    offsets.append(at)
    d = zlib.decompressobj(31)
    d.decompress(data[at:])
    if not d.eof: raise SystemExit("member not terminated")
    at = len(data) - len(d.unused_data)
print(" ".join(map(str, offsets)))
`,
    data,
  );
  return out.toString().trim().split(" ").map(Number);
}

/**
 * Python that writes tar headers the way Go's archive/tar does (an independent re-statement of
 * writer.go: USTAR with prefix split, else PAX `x` + ASCII main header), used to check our bytes.
 * Defines go_entry(name, content_or_size) -> header bytes, and go_tar(entries) -> whole tar.
 */
export const GO_TAR_PY = String.raw`
def _fmt_str(b, off, size, s):
    n = min(len(s), size)
    b[off:off + n] = s[:n]
    if len(s) < size:
        b[off + len(s)] = 0
    if len(s) > size and b[off + size - 1] == 0x2F:
        b[off + len(s[:size - 1].rstrip(b"/"))] = 0

def _fmt_oct(b, off, size, x):
    if not (0 <= x < 1 << (3 * (size - 1))):
        x = 0
    _fmt_str(b, off, size, ("%o" % x).rjust(size - 1, "0").encode())

def _set_ustar(b):
    b[257:263] = b"ustar\0"
    b[263:265] = b"00"
    b[148:156] = b" " * 8
    _fmt_oct(b, 148, 7, sum(b))
    b[155] = 0x20

def _template(name, size, flag=b"0"):
    b = bytearray(512)
    b[156] = flag[0]
    _fmt_str(b, 0, 100, name)
    _fmt_str(b, 157, 100, b"")
    _fmt_oct(b, 100, 8, 0o666)
    _fmt_oct(b, 108, 8, 0)
    _fmt_oct(b, 116, 8, 0)
    _fmt_oct(b, 124, 12, size)
    _fmt_oct(b, 136, 12, 0)
    _fmt_str(b, 265, 32, b"")
    _fmt_str(b, 297, 32, b"")
    _fmt_oct(b, 329, 8, 0)
    _fmt_oct(b, 337, 8, 0)
    return b

def _is_ascii(s):
    return all(0 < ord(c) < 0x80 for c in s)

def _split_ustar(name):
    length = len(name)
    if length <= 100 or not _is_ascii(name):
        return None
    if length > 156:
        length = 156
    elif name[length - 1] == "/":
        length -= 1
    i = name.rfind("/", 0, length)
    nlen = len(name) - i - 1
    if i <= 0 or nlen > 100 or nlen == 0 or i > 155:
        return None
    return name[:i], name[i + 1:]

def _pax_record(k, v):
    body = 3 + len(k) + len(v)
    size = body + len(str(body))
    if len(str(size)) + body != size:
        size = len(str(size)) + body
    return str(size).encode() + b" " + k.encode() + b"=" + v + b"\n"

def _to_ascii(s):
    return "".join(c for c in s if 0 < ord(c) < 0x80)

def _go_clean(p):
    rooted = p.startswith("/")
    out = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
        else:
            out.append(part)
    r = ("/" if rooted else "") + "/".join(out)
    return r or ("/" if rooted else ".")

def _pad(n):
    return b"\0" * (-n % 512)

def go_entry(name, size):
    nb = name.encode()
    ascii_name = _is_ascii(name)
    fits = size < 8 ** 11
    split = _split_ustar(name)
    if ascii_name and fits and (len(nb) <= 100 or split):
        prefix, short = split if split else ("", name)
        b = _template(short.encode(), size)
        _fmt_str(b, 345, 155, prefix.encode())
        _set_ustar(b)
        return bytes(b)
    recs = b""
    if not ascii_name or (len(nb) > 100 and not split):
        recs += _pax_record("path", nb)
    if not fits:
        recs += _pax_record("size", str(size).encode())
    i = name.rfind("/")
    d, f = name[:i + 1], name[i + 1:]
    pax_name = _to_ascii(_go_clean("/".join(e for e in (d, "PaxHeaders.0", f) if e)))[:100].rstrip("/")
    x = bytearray(512)
    x[156] = ord("x")
    _fmt_str(x, 0, 100, pax_name.encode())
    _fmt_oct(x, 100, 8, 0)
    _fmt_oct(x, 108, 8, 0)
    _fmt_oct(x, 116, 8, 0)
    _fmt_oct(x, 124, 12, len(recs))
    _fmt_oct(x, 136, 12, 0)
    _set_ustar(x)
    main = _template(_to_ascii(name).encode(), size)
    _set_ustar(main)
    return bytes(x) + recs + _pad(len(recs)) + bytes(main)

def go_tar(entries):
    out = bytearray()
    for name, content in entries:
        out += go_entry(name, len(content)) + content + _pad(len(content))
    return bytes(out) + b"\0" * 1024
`;

export type PyFormat = "GNU" | "PAX" | "USTAR";

export interface PyTarOptions {
  readonly format?: PyFormat;
  /** gzip level; default 6. */
  readonly level?: number;
  /** Split the tar at these byte offsets into separate gzip members. */
  readonly splits?: readonly number[];
  /** Cut the tar's end-of-archive blocks (and record padding) off before compressing. */
  readonly noEnd?: boolean;
  /** Bytes appended to the tar before compressing. */
  readonly appendTar?: Buffer;
  /** Entries of another type: [name, typeflag char]. */
  readonly special?: readonly [string, string][];
}

/** Builds a .tar.gz with python's tarfile (an independent writer) from [name, content] pairs. */
export async function pyTarGz(
  entries: readonly (readonly [string, Buffer])[],
  options: PyTarOptions = {},
): Promise<Buffer> {
  return (await pyTarGzMany([[entries, options]]))[0]!;
}

/** Several archives in one python run (a python start costs a lot on a busy machine). */
export async function pyTarGzMany(
  archives: readonly (readonly [readonly (readonly [string, Buffer])[], PyTarOptions?])[],
): Promise<Buffer[]> {
  const specs = archives.map(([entries, options = {}]) => ({
    format: options.format ?? "PAX",
    level: options.level ?? 6,
    splits: options.splits ?? [],
    noEnd: options.noEnd ?? false,
    append: (options.appendTar ?? Buffer.alloc(0)).toString("base64"),
    special: options.special ?? [],
    entries: entries.map(([name, content]) => [name, content.toString("base64")]),
  }));
  const out = await python(
    `
import sys, io, json, base64, tarfile, gzip
for spec in json.loads(sys.stdin.buffer.read()):
    buf = io.BytesIO()
    fmt = getattr(tarfile, spec["format"] + "_FORMAT")
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8") as t:
        for name, b64 in spec["entries"]:
            data = base64.b64decode(b64)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1700000000
            t.addfile(info, io.BytesIO(data))
        for name, flag in spec["special"]:
            info = tarfile.TarInfo(name)
            info.type = flag.encode()
            t.addfile(info)
    tar = buf.getvalue()
    if spec["noEnd"]:
        while tar.endswith(b"\\0" * 512):
            tar = tar[:-512]
    tar += base64.b64decode(spec["append"])
    cuts = [0] + spec["splits"] + [len(tar)]
    out = b"".join(gzip.compress(tar[a:b], compresslevel=spec["level"]) for a, b in zip(cuts, cuts[1:]))
    sys.stdout.buffer.write(len(out).to_bytes(8, "big") + out)
`,
    Buffer.from(JSON.stringify(specs)),
  );
  const result: Buffer[] = [];
  for (let at = 0; at < out.length; ) {
    const n = Number(out.readBigUInt64BE(at));
    result.push(out.subarray(at + 8, at + 8 + n));
    at += 8 + n;
  }
  return result;
}
