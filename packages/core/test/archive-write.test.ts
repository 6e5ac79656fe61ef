import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  ARCHIVE_FORMAT,
  CONFIG_ENTRY,
  DB_ENTRY,
  MANIFEST_ENTRY,
  RELEASE_ENTRY,
  REQUEST_ENTRY,
  REVISION_ENTRY,
  VOLUMES_ENTRY,
  writeArchive,
} from "../src/archive/index.js";
import { headerSize, writeFileHeader } from "../src/archive/tar.js";
import { VsnapError } from "../src/errors.js";
import {
  archiveBytes,
  collect,
  dbReadPoint,
  GO_TAR_PY,
  gzipMembers,
  kv,
  kvReadPoint,
  METADATA,
  objectValue,
  python,
  run,
  TOOL_VERSION,
} from "./archive-helpers.js";

/** Keys that exercise every header path Go takes (USTAR, USTAR prefix split, PAX). */
function awkwardKeys(): string[] {
  const seg = (n: number, c = "a") => c.repeat(n);
  return [
    "/registry/pods/default/nginx",
    `/registry/${seg(90)}`, // exactly 100 bytes
    `/registry/${seg(91)}`, // 101: splits at "/registry"
    `/${seg(120)}`, // 121, only split point at 0: PAX
    `/registry/${seg(140)}/${seg(100)}`, // prefix 150 + name 100: USTAR
    `/${seg(154)}/${seg(100)}`, // prefix 155 + name 100 = 256: USTAR
    `/${seg(155)}/${seg(100)}`, // prefix 156: PAX
    `/registry/${seg(300, "b")}`, // long, no usable split: PAX, header name cut at 100
    "/registry/configmaps/default/café", // non-ASCII: PAX
    "/registry/configmaps/ünïcødé/😀-emoji", // 4-byte UTF-8
    `/registry/ü/${seg(85)}/${seg(20)}`, // PAX main name cut where byte 99 is "/"
    "/registry/ü/../x/./y", // PAX header name is path.Clean'ed
    "/registry/trailing/", // a key ending in "/"
    `/registry/${seg(95)}/${"c".repeat(50)}/`, // long with trailing slash
    `/registry/ä${seg(97)}/${seg(3)}`,
    "/registry/space in name/and\ttab",
  ];
}

function awkwardEntries() {
  const sizes = [0, 1, 511, 512, 513, 4096, 70_000];
  return awkwardKeys().map((key, i) => kv(key, objectValue(i, sizes[i % sizes.length]!)));
}

/** Expected entry list of a kv archive: what vCluster writes, then vsnap's additions. */
function expectedKvEntries(keys: { key: string; value: Buffer | Uint8Array }[], revision: number) {
  return [
    [RELEASE_ENTRY, Buffer.from(JSON.stringify(METADATA.release))],
    [REQUEST_ENTRY, Buffer.from(JSON.stringify(METADATA.request))],
    [REVISION_ENTRY, Buffer.from(String(revision))],
    ...keys.map((e) => [e.key, Buffer.from(e.value)]),
    [CONFIG_ENTRY, Buffer.from(METADATA.vclusterConfig!)],
    [VOLUMES_ENTRY, Buffer.from(JSON.stringify(METADATA.volumes))],
  ] as [string, Buffer][];
}

/** Framing for python: 8-byte length, JSON, then the archive. */
function framed(json: unknown, archive: Buffer): Buffer {
  const head = Buffer.from(JSON.stringify(json));
  const len = Buffer.alloc(8);
  len.writeBigUInt64BE(BigInt(head.length));
  return Buffer.concat([len, head, archive]);
}

const PY_READ_FRAMED = `
import sys, json, base64, io, gzip, tarfile, hashlib
raw = sys.stdin.buffer.read()
n = int.from_bytes(raw[:8], "big")
expected = json.loads(raw[8:8 + n])
archive = raw[8 + n:]
`;

describe("writeArchive", () => {
  it("lays entries out as vCluster does, then vsnap's, and GNU tar lists them in that order", async () => {
    const keys = awkwardEntries().filter((e) => !e.key.includes("\t"));
    const { bytes, manifest } = await archiveBytes({ readPoint: kvReadPoint(keys), metadata: METADATA });
    const listing = await run("tar", ["--quoting-style=literal", "-tPzf", "-"], bytes);
    expect(listing.stderr).toBe("");
    expect(listing.code).toBe(0);
    const names = listing.stdout.toString("utf8").split("\n").slice(0, -1);
    expect(names).toEqual([...expectedKvEntries(keys, 4242).map(([name]) => name), MANIFEST_ENTRY]);
    expect(manifest).toMatchObject({
      format: ARCHIVE_FORMAT,
      formatVersion: 1,
      toolVersion: TOOL_VERSION,
      backingStore: "sqlite",
      mode: "kv",
      revision: 4242,
      entries: keys.length + 5,
      keys: keys.length,
    });
  });

  it("writes every header byte for byte as Go's archive/tar would (USTAR, prefix split, PAX)", async () => {
    const keys = awkwardEntries();
    for (const compression of ["parallel", "single"] as const) {
      const { bytes } = await archiveBytes({
        readPoint: kvReadPoint(keys),
        metadata: METADATA,
        compression,
        blockSize: 16 * 1024,
      });
      const entries = expectedKvEntries(keys, 4242).map(([name, content]) => [
        name,
        content.toString("base64"),
      ]);
      const out = await python(
        `${GO_TAR_PY}\n${PY_READ_FRAMED}
tar = gzip.decompress(archive)
expect = go_tar([(name, base64.b64decode(c)) for name, c in expected])
body = expect[:-1024]
if tar[:len(body)] != body:
    i = next(i for i in range(len(body)) if tar[i] != body[i])
    raise SystemExit("differs at tar offset %d (header block %d): got %r want %r" % (i, i // 512, tar[i - i % 512:i - i % 512 + 512], body[i - i % 512:i - i % 512 + 512]))
m = tarfile.open(fileobj=io.BytesIO(tar[len(body):]), mode="r:")
member = m.next()
print(member.name, len(tar) - len(body) == 512 + -(-member.size // 512) * 512 + 1024)
`,
        framed(entries, bytes),
      );
      expect(out.toString().trim()).toBe(`${MANIFEST_ENTRY} True`);
    }
  });

  it("is read identically by python's tarfile: names, contents and vCluster's header fields", async () => {
    const keys = [...awkwardEntries(), kv("/registry/new\nline", "x")];
    const { bytes } = await archiveBytes({
      readPoint: kvReadPoint(keys),
      metadata: METADATA,
      blockSize: 8192,
    });
    const expected = [...expectedKvEntries(keys, 4242)].map(([name, content]) => [
      name,
      createHash("sha256").update(content).digest("hex"),
      content.length,
    ]);
    const out = await python(
      `${PY_READ_FRAMED}
got = []
with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as t:
    for m in t:
        assert m.isreg() and m.mode == 0o666 and m.mtime == 0 and m.uid == 0 and m.gid == 0, m.name
        assert m.uname == "" and m.gname == "", m.name
        got.append([m.name, hashlib.sha256(t.extractfile(m).read()).hexdigest(), m.size])
assert got[-1][0] == "${MANIFEST_ENTRY}", got[-1]
assert got[:-1] == expected, [(a, b) for a, b in zip(got, expected) if a != b][:3]
print(len(got))
`,
      framed(expected, bytes),
    );
    expect(Number(out.toString())).toBe(expected.length + 1);
  });

  it("emits parallel gzip members that gzip -t, python's gzip and GNU tar accept", async () => {
    const keys = Array.from({ length: 400 }, (_, i) =>
      kv(`/registry/secrets/ns/s-${i}`, objectValue(i, 900)),
    );
    const { bytes } = await archiveBytes({
      readPoint: kvReadPoint(keys),
      blockSize: 16 * 1024,
      compression: "parallel",
    });
    const members = await gzipMembers(bytes);
    expect(members.length).toBeGreaterThan(10);
    const test = await run("gzip", ["-t"], bytes);
    expect({ code: test.code, stderr: test.stderr }).toEqual({ code: 0, stderr: "" });
    const tarList = await run("tar", ["-tPzf", "-"], bytes);
    expect(tarList.code).toBe(0);
    expect(tarList.stdout.toString().split("\n").length - 1).toBe(keys.length + 2);
    const pyTar = await python(
      "import sys, gzip, hashlib; print(hashlib.sha256(gzip.decompress(sys.stdin.buffer.read())).hexdigest())",
      bytes,
    );
    expect(pyTar.toString().trim()).toBe(createHash("sha256").update(gunzipSync(bytes)).digest("hex"));
  });

  it("with single compression writes one deflate member, then the manifest's stored member", async () => {
    const keys = Array.from({ length: 300 }, (_, i) => kv(`/registry/k/${i}`, objectValue(i, 700)));
    const { bytes, manifest } = await archiveBytes({
      readPoint: kvReadPoint(keys),
      compression: "single",
      blockSize: 8192,
    });
    const members = await gzipMembers(bytes);
    expect(members).toEqual([0, manifest.compressed!.bytes]);
    // Go's header: no name, mtime 0, XFL 0 for level 3, OS 255.
    expect([...bytes.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    // The manifest's member is stored: its deflate data starts with a final stored block.
    expect(bytes[manifest.compressed!.bytes + 10]).toBe(1);
    expect(createHash("sha256").update(bytes.subarray(0, manifest.compressed!.bytes)).digest("hex")).toBe(
      manifest.compressed!.sha256,
    );
  });

  it("writes a db archive as vCluster does: release, request, db (no revision), then vsnap's entries", async () => {
    const db = Buffer.concat([objectValue(1, 300_000), Buffer.alloc(5000, 7)]);
    const { bytes, manifest } = await archiveBytes({ readPoint: dbReadPoint(db, 99), metadata: METADATA });
    const entries = [
      [RELEASE_ENTRY, Buffer.from(JSON.stringify(METADATA.release))],
      [REQUEST_ENTRY, Buffer.from(JSON.stringify(METADATA.request))],
      [DB_ENTRY, db],
      [CONFIG_ENTRY, Buffer.from(METADATA.vclusterConfig!)],
      [VOLUMES_ENTRY, Buffer.from(JSON.stringify(METADATA.volumes))],
    ] as const;
    const out = await python(
      `${GO_TAR_PY}\n${PY_READ_FRAMED}
tar = gzip.decompress(archive)
body = go_tar([(name, base64.b64decode(c)) for name, c in expected])[:-1024]
print(tar[:len(body)] == body)
`,
      framed(
        entries.map(([n, c]) => [n, c.toString("base64")]),
        bytes,
      ),
    );
    expect(out.toString().trim()).toBe("True");
    expect(manifest).toMatchObject({ mode: "db", backingStore: "etcd", revision: 99, keys: 0, entries: 5 });
  });

  it("digests entries as the manifest defines: name, NUL, length, NUL, content", async () => {
    const keys = awkwardEntries();
    const { manifest } = await archiveBytes({
      readPoint: kvReadPoint(keys, { revision: 5 }),
      metadata: METADATA,
    });
    const hash = createHash("sha256");
    let bytes = 0;
    for (const [name, content] of expectedKvEntries(keys, 5)) {
      hash.update(Buffer.from(name)).update(`\0${content.length}\0`).update(content);
      bytes += content.length;
    }
    expect(manifest.sha256).toBe(hash.digest("hex"));
    expect(manifest.bytes).toBe(bytes);
    expect(manifest.entries).toBe(keys.length + 5);
  });

  it("drops keys under /vcluster/snapshot/ that the read point yields", async () => {
    const keys = [
      kv("/registry/a", "1"),
      kv("/vcluster/snapshot/release", "leaked"),
      kv("/vcluster/snapshot/vsnap/manifest", "{}"),
      kv("/vcluster/x", "kept"),
    ];
    const { bytes, manifest } = await archiveBytes({ readPoint: kvReadPoint(keys) });
    const listing = await run("tar", ["-tPzf", "-"], bytes);
    expect(listing.stdout.toString().split("\n").slice(0, -1)).toEqual([
      REVISION_ENTRY,
      "/registry/a",
      "/vcluster/x",
      MANIFEST_ENTRY,
    ]);
    expect(manifest.keys).toBe(2);
  });

  it("refuses keys no tar header can carry faithfully", async () => {
    for (const key of ["", "/registry/nul\0byte", "/registry/lone-\ud800-surrogate"]) {
      const writer = writeArchive({ readPoint: kvReadPoint([kv(key, "v")]), toolVersion: TOOL_VERSION });
      const error = await collect(writer.stream).catch((e: unknown) => e);
      expect(VsnapError.is(error) && ["INVALID_ARGUMENT", "UNSUPPORTED"].includes(error.code)).toBe(true);
      await expect(writer.done).rejects.toBe(error);
    }
  });

  it("fails when the db stream is shorter or longer than it announced", async () => {
    for (const delivered of [999, 1001]) {
      const writer = writeArchive({
        readPoint: dbReadPoint({
          size: 1000,
          async *chunks() {
            yield Buffer.alloc(delivered);
          },
        }),
        toolVersion: TOOL_VERSION,
      });
      await expect(collect(writer.stream)).rejects.toThrow(/etcd db stream .*announced/);
      await expect(writer.done).rejects.toMatchObject({ code: "UNAVAILABLE" });
    }
  });

  it("rejects invalid options", () => {
    const readPoint = kvReadPoint([]);
    for (const compressionLevel of [0, 10, 2.5]) {
      expect(() => writeArchive({ readPoint, toolVersion: "x", compressionLevel })).toThrow(
        /compression level/,
      );
    }
    for (const blockSize of [1000, 512, 128 << 20]) {
      expect(() => writeArchive({ readPoint, toolVersion: "x", blockSize })).toThrow(/block size/);
    }
  });

  it("writes the size of an 8 GiB entry in a PAX record, as Go does", async () => {
    const cases = [
      ["/vcluster/snapshot/db", 2 ** 33],
      ["/vcluster/snapshot/db", 2 ** 33 - 1],
      ["/registry/ü", 2 ** 40 + 5],
    ] as const;
    const want = await python(
      `${GO_TAR_PY}\nimport sys, json\nfor name, size in json.loads(sys.stdin.read()): sys.stdout.buffer.write(go_entry(name, size))`,
      Buffer.from(JSON.stringify(cases)),
    );
    const got = cases.map(([name, size]) => {
      const nameBytes = Buffer.from(name);
      const out = new Uint8Array(headerSize(name, nameBytes, size));
      expect(writeFileHeader(out, 0, name, nameBytes, size)).toBe(out.length);
      return out;
    });
    expect(Buffer.concat(got).equals(want)).toBe(true);
    expect(got.map((h) => h.length)).toEqual([1536, 512, 1536]);
  });
});
