import { gunzipSync, gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ArchiveManifest,
  MANIFEST_ENTRY,
  RELEASE_ENTRY,
  REVISION_ENTRY,
  verifyArchive,
} from "../src/archive/index.js";
import { headerSize, writeFileHeader } from "../src/archive/tar.js";
import { VsnapError } from "../src/errors.js";
import {
  archiveBytes,
  chunked,
  gzipMembers,
  kv,
  kvReadPoint,
  METADATA,
  objectValue,
  pyTarGz,
  pyTarGzMany,
  run,
} from "./archive-helpers.js";

/** verify must fail with INTEGRITY; returns the message. */
async function integrityFailure(archive: Buffer, label: string): Promise<string> {
  const outcome = await verifyArchive([archive]).then(
    (summary) => ({ passed: summary }),
    (error: unknown) => ({ error }),
  );
  if ("passed" in outcome) throw new Error(`${label}: verify passed a damaged archive`);
  const { error } = outcome;
  if (!VsnapError.is(error, "INTEGRITY"))
    throw new Error(`${label}: expected INTEGRITY, got ${String(error)}`);
  return error.message;
}

/** A tar's regular entries (our archives only use plain USTAR headers for these names). */
function tarEntries(tar: Buffer): [string, Buffer][] {
  const entries: [string, Buffer][] = [];
  let at = 0;
  while (at + 512 <= tar.length && tar[at] !== 0) {
    const name = tar.toString("utf8", at, at + 100).replace(/\0.*$/su, "");
    const size = Number.parseInt(tar.toString("latin1", at + 124, at + 135), 8);
    entries.push([name, tar.subarray(at + 512, at + 512 + size)]);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

function buildTar(entries: readonly (readonly [string, Uint8Array])[]): Buffer {
  const parts: Uint8Array[] = [];
  for (const [name, content] of entries) {
    const nameBytes = Buffer.from(name);
    const header = new Uint8Array(headerSize(name, nameBytes, content.length));
    writeFileHeader(header, 0, name, nameBytes, content.length);
    parts.push(header, content, new Uint8Array((512 - (content.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}

/** Rewrites a vsnap archive's tar (valid tar and gzip, so only the manifest can tell). */
function rewrite(archive: Buffer, edit: (entries: [string, Buffer][]) => [string, Buffer][]): Buffer {
  return gzipSync(buildTar(edit(tarEntries(gunzipSync(archive)))));
}

function editManifest(
  entries: [string, Buffer][],
  change: (m: ArchiveManifest) => object,
): [string, Buffer][] {
  return entries.map(([name, content]) =>
    name === MANIFEST_ENTRY
      ? [name, Buffer.from(JSON.stringify(change(JSON.parse(content.toString()) as ArchiveManifest)))]
      : [name, content],
  );
}

describe("verifyArchive on damaged archives", () => {
  let archive: Buffer;
  let manifest: ArchiveManifest;
  let members: number[];

  beforeAll(async () => {
    // ~30 KiB of tar in 8 KiB blocks: four deflate members, a stored manifest member, ~6 KiB in all.
    const keys = Array.from({ length: 24 }, (_, i) =>
      kv(`/registry/pods/ns/p-${i}`, objectValue(i, 200 + i * 60)),
    );
    // Small blocks: several deflate members, so every member boundary is exercised.
    ({ bytes: archive, manifest } = await archiveBytes({
      readPoint: kvReadPoint(keys),
      metadata: METADATA,
      blockSize: 8192,
    }));
    members = await gzipMembers(archive);
    expect(members.length).toBeGreaterThan(3);
    expect((await verifyArchive([archive])).verified).toBe(true);
  });

  it("fails on truncation at many offsets, saying it is truncated", async () => {
    const messages = new Set<string>();
    // Every offset near member boundaries and the ends, every 5th elsewhere.
    const cuts = new Set([...range(0, 32), ...range(archive.length - 64, archive.length)]);
    for (const start of members) for (const cut of range(start - 24, start + 24)) cuts.add(cut);
    for (let cut = 0; cut < archive.length; cut += 5) cuts.add(cut);
    for (const cut of cuts) {
      const message = await integrityFailure(archive.subarray(0, cut), `cut at ${cut}`);
      expect(message, `cut at ${cut}`).toMatch(/^archive is truncated: /);
      messages.add(message.replace(/\d+/gu, "N"));
    }
    expect(messages).toContain("archive is truncated: gzip stream ended unexpectedly after N bytes");
  });

  it("fails on a single flipped bit at many offsets, never passing silently", async () => {
    const flips: [number, number][] = [];
    // Every other byte, a different bit each time (deflate data and CRC detect these anyway)...
    for (let offset = 0; offset < archive.length; offset += 2) flips.push([offset, (offset >> 1) % 8]);
    // ...and every bit of the bytes gzip and deflate do not protect: member headers (mtime, OS),
    // the last deflate byte's padding bits, trailers; and the whole manifest member.
    const ends = [...members.slice(1), archive.length];
    for (const [i, start] of members.entries()) {
      const end = ends[i]!;
      // The manifest's member: also the stored block's header (flag with padding bits, lengths).
      const head = i === members.length - 1 ? 15 : 10;
      for (const offset of [...range(start, start + head), ...range(end - 12, end)]) {
        for (let bit = 0; bit < 8; bit++) flips.push([offset, bit]);
      }
    }
    for (const [offset, bit] of flips) {
      const damaged = Buffer.from(archive);
      damaged[offset]! ^= 1 << bit;
      await integrityFailure(damaged, `bit ${bit} of byte ${offset}`);
    }
    expect(flips.length).toBeGreaterThan(archive.length / 2);
  });

  it("fails when entries follow the manifest", async () => {
    const appended = rewrite(archive, (entries) => [...entries, ["/registry/late", Buffer.from("x")]]);
    expect(await integrityFailure(appended, "appended")).toBe(
      'data after the manifest: entry "/registry/late" follows it',
    );
    // A second gzip member with more tar entries after vsnap's last member.
    const extra = gzipSync(buildTar([["/registry/late", Buffer.from("x")]]));
    expect(await integrityFailure(Buffer.concat([archive, extra]), "extra member")).toBe(
      "archive is corrupt: data after the tar end-of-archive marker",
    );
  });

  it("fails when the manifest's digest or counts do not match the entries", async () => {
    const wrongSha = rewrite(archive, (e) => editManifest(e, (m) => ({ ...m, sha256: "0".repeat(64) })));
    expect(await integrityFailure(wrongSha, "sha")).toBe(
      "manifest digest mismatch: archive entries were modified",
    );

    const modified = rewrite(archive, (entries) =>
      entries.map(([n, c]) => [n, n === "/registry/pods/ns/p-3" ? Buffer.from(c).fill(0x41, 0, 1) : c]),
    );
    expect(await integrityFailure(modified, "modified value")).toBe(
      "manifest digest mismatch: archive entries were modified",
    );

    const removed = rewrite(archive, (entries) => entries.filter(([n]) => n !== "/registry/pods/ns/p-7"));
    expect(await integrityFailure(removed, "removed")).toBe(
      `entry count mismatch: manifest says ${manifest.entries}, archive has ${manifest.entries - 1}`,
    );

    const moreEntries = rewrite(archive, (e) => editManifest(e, (m) => ({ ...m, entries: m.entries + 2 })));
    expect(await integrityFailure(moreEntries, "count")).toBe(
      `entry count mismatch: manifest says ${manifest.entries + 2}, archive has ${manifest.entries}`,
    );

    const newer = rewrite(archive, (e) => editManifest(e, (m) => ({ ...m, formatVersion: 99 })));
    await expect(verifyArchive([newer])).rejects.toMatchObject({
      code: "UNSUPPORTED",
      message: /newer than this vsnap/,
    });
  });

  it("fails when the archive was recompressed, though its entries are intact", async () => {
    const recompressed = await run("gzip", ["-9", "-n"], gunzipSync(archive));
    expect(await integrityFailure(recompressed.stdout, "recompressed")).toMatch(
      /entries are intact.*recompressed/,
    );
  });

  it("fails on bytes after the gzip stream, zeros included", async () => {
    for (const tail of [Buffer.from("garbage"), Buffer.alloc(1), Buffer.alloc(4096), Buffer.of(0x1f, 0x8b)]) {
      await integrityFailure(Buffer.concat([archive, tail]), `tail ${tail.toString("hex").slice(0, 8)}`);
    }
  });
});

describe("verifyArchive on damaged archives without a manifest (vCluster's)", () => {
  let archive: Buffer;

  beforeAll(async () => {
    archive = await pyTarGz([
      [RELEASE_ENTRY, Buffer.from(JSON.stringify(METADATA.release))],
      [REVISION_ENTRY, Buffer.from("42")],
      ...Array.from(
        { length: 12 },
        (_, i) => [`/registry/k/${i}`, objectValue(i, 300 + i * 200)] as [string, Buffer],
      ),
    ]);
    expect(await verifyArchive([archive])).toMatchObject({ verified: false, mode: "kv", keys: 12 });
  });

  it("fails on truncation at many offsets", async () => {
    for (let cut = 0; cut < archive.length; cut += cut < 64 || cut > archive.length - 64 ? 1 : 3) {
      expect(await integrityFailure(archive.subarray(0, cut), `cut at ${cut}`)).toMatch(
        /^archive is truncated: /,
      );
    }
  });

  it("fails on a flipped bit in the deflate data or trailer unless the content is unchanged", async () => {
    // A plain gzip file leaves some bits unprotected: its header (mtime, flags, OS), the padding
    // bits of the last deflate byte, and codes that decode to the same bytes (a run of zeros
    // copied from distance 1 or 2). Such a flip passes only if the archive's content is
    // byte-identical; vsnap's own archives detect even those through the manifest.
    expect(await gzipMembers(archive)).toEqual([0]);
    const content = gunzipSync(archive);
    let harmless = 0;
    for (let offset = 10; offset < archive.length; offset += 2) {
      const damaged = Buffer.from(archive);
      damaged[offset]! ^= 1 << (offset % 8);
      const passed = await verifyArchive([damaged]).then(
        () => true,
        (error: unknown) => {
          if (!VsnapError.is(error, "INTEGRITY")) throw error;
          return false;
        },
      );
      if (passed) {
        expect(gunzipSync(damaged).equals(content), `byte ${offset} passed with different content`).toBe(
          true,
        );
        harmless++;
      }
    }
    expect(harmless).toBeLessThan(archive.length / 50);
  });

  it("fails on tar-level damage inside valid gzip: header checksum, missing end, trailing data", async () => {
    const entries: [string, Buffer][] = [
      ["/registry/a", Buffer.from("1")],
      ["/registry/b", Buffer.from("2")],
    ];
    const [clean, noEnd, trailing] = await pyTarGzMany([
      [entries],
      [entries, { noEnd: true }],
      [entries, { appendTar: Buffer.from("tail") }],
    ]);
    const tar = gunzipSync(clean!);
    tar[512 + 512 + 5]! ^= 4; // a name byte in the second header
    expect(await integrityFailure(gzipSync(tar), "header")).toBe(
      "archive is corrupt: tar header checksum mismatch at tar offset 1024",
    );
    expect(await integrityFailure(noEnd!, "no end")).toBe(
      "archive is truncated: the tar end-of-archive marker is missing after 2 entries",
    );
    expect(await integrityFailure(trailing!, "trailing")).toBe(
      "archive is corrupt: data after the tar end-of-archive marker",
    );
  });

  it("fails on input that is not gzip, or empty", async () => {
    expect(await integrityFailure(gunzipSync(archive), "plain tar")).toMatch(/not gzip-compressed/);
    expect(await integrityFailure(Buffer.alloc(0), "empty")).toMatch(/^archive is truncated/);
  });

  it("accepts zero bytes after the gzip stream, as gzip does", async () => {
    expect(await verifyArchive(chunked(Buffer.concat([archive, Buffer.alloc(700)])))).toMatchObject({
      keys: 12,
    });
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}
