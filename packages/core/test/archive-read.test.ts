import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type ArchiveEntry,
  archiveKeyValues,
  DB_ENTRY,
  MANIFEST_ENTRY,
  RELEASE_ENTRY,
  REQUEST_ENTRY,
  REVISION_ENTRY,
  readArchive,
  verifyArchive,
} from "../src/archive/index.js";
import { VsnapError } from "../src/errors.js";
import {
  archiveBytes,
  chunked,
  dbReadPoint,
  kv,
  kvReadPoint,
  METADATA,
  objectValue,
  type PyFormat,
  pyTarGz,
  pyTarGzMany,
  random,
  run,
  withTempDir,
} from "./archive-helpers.js";

async function readAll(source: AsyncIterable<Uint8Array>) {
  const reader = readArchive(source);
  const entries: [string, Buffer][] = [];
  for await (const entry of reader) entries.push([entry.name, await entry.bytes()]);
  return { entries, result: reader.result! };
}

const LONG = `/registry/${"x".repeat(60)}/${"y".repeat(80)}/${"z".repeat(120)}`;
const NAMES = [
  "/registry/pods/default/nginx",
  `/registry/${"a".repeat(95)}/${"b".repeat(30)}`, // USTAR prefix split
  LONG, // > 256 bytes: PAX or GNU L
  "/registry/configmaps/default/café-ünïcødé",
  "/registry/secrets/ns/😀",
];

function sampleEntries(): [string, Buffer][] {
  return NAMES.map((name, i) => [name, objectValue(i, [0, 1, 512, 10_000, 100_000][i]!)] as [string, Buffer]);
}

describe("readArchive", () => {
  it("reads python tarfile GNU, PAX and USTAR archives at gzip levels 1, 6 and 9", async () => {
    const cases = (["GNU", "PAX", "USTAR"] as PyFormat[]).flatMap((format) =>
      [1, 6, 9].map((level) => {
        // USTAR cannot hold names over 256 bytes or non-ASCII ones faithfully.
        const entries = sampleEntries().filter(
          ([n]) => format !== "USTAR" || (n.length <= 256 && /^[\x20-\x7e]*$/u.test(n)),
        );
        return [entries, { format, level }] as const;
      }),
    );
    const archives = await pyTarGzMany(cases);
    for (const [i, [entries, options]] of cases.entries()) {
      const { entries: got, result } = await readAll(chunked(archives[i]!, 1000));
      expect({ ...options, got }).toEqual({ ...options, got: entries });
      expect(result).toMatchObject({
        verified: false,
        mode: "kv",
        entries: entries.length,
        keys: entries.length,
      });
    }
  });

  for (const format of ["gnu", "posix", "ustar", "oldgnu"]) {
    it(`reads GNU tar --format=${format} archives`, async () => {
      await withTempDir(async (dir) => {
        const entries = sampleEntries().filter(
          ([n]) => !["ustar"].includes(format) || (n.length <= 256 && /^[\x20-\x7e]*$/u.test(n)),
        );
        const relative = entries.map(([name]) => name.slice(1));
        for (const [name, content] of entries) {
          await mkdir(dirname(join(dir, name)), { recursive: true });
          await writeFile(join(dir, name), content);
        }
        const result = await run(
          "tar",
          [`--format=${format}`, "-czPf", "out.tgz", "--no-recursion", "--transform=s,^,/,", ...relative],
          undefined,
          dir,
        );
        expect(result.stderr).toBe("");
        const { entries: got } = await readAll(chunked(await readFile(join(dir, "out.tgz")), 777));
        expect(got).toEqual(entries);
      });
    });
  }

  it("reads multi-member gzip, members split anywhere in the tar (even mid-header), empty members too", async () => {
    const entries = sampleEntries();
    const archive = await pyTarGz(entries, { splits: [1, 100, 512, 513, 700, 700, 5000, 20_001] });
    const { entries: got } = await readAll(chunked(archive, 333));
    expect(got).toEqual(entries);
  });

  it("reads vCluster's own kv archives (no manifest) and reports what verify can and cannot say", async () => {
    const release = Buffer.from(JSON.stringify(METADATA.release));
    const request = Buffer.from(JSON.stringify(METADATA.request));
    const archive = await pyTarGz([
      [RELEASE_ENTRY, release],
      [REQUEST_ENTRY, request],
      [REVISION_ENTRY, Buffer.from("31337")],
      ["/registry/a", Buffer.from("1")],
      ["/registry/b", Buffer.from("22")],
    ]);
    const summary = await verifyArchive(chunked(archive));
    expect(summary).toMatchObject({
      mode: "kv",
      verified: false,
      release: METADATA.release,
      request: METADATA.request,
      revision: 31337,
      entries: 5,
      keys: 2,
      compressedBytes: archive.length,
    });
    expect(summary.manifest).toBeUndefined();
    const hash = createHash("sha256");
    for (const [n, c] of [
      [RELEASE_ENTRY, release],
      [REQUEST_ENTRY, request],
      [REVISION_ENTRY, Buffer.from("31337")],
      ["/registry/a", Buffer.from("1")],
      ["/registry/b", Buffer.from("22")],
    ] as const) {
      hash.update(n).update(`\0${c.length}\0`).update(c);
    }
    expect(summary.sha256).toBe(hash.digest("hex"));
  });

  it("detects the mode exactly as vCluster's getSnapshotArchiveKind", async () => {
    const e = (name: string) => [name, Buffer.from(name === REVISION_ENTRY ? "1" : "{}")] as [string, Buffer];
    const cases: [string[], "kv" | "db"][] = [
      [[], "kv"],
      [[RELEASE_ENTRY], "kv"],
      [[RELEASE_ENTRY, REQUEST_ENTRY], "kv"],
      [[RELEASE_ENTRY, REQUEST_ENTRY, DB_ENTRY], "db"],
      [[RELEASE_ENTRY, DB_ENTRY], "db"],
      [["/vcluster/snapshot/request", DB_ENTRY], "db"],
      [[DB_ENTRY], "db"],
      [[RELEASE_ENTRY, REVISION_ENTRY, "/registry/a"], "kv"],
      [[RELEASE_ENTRY, REQUEST_ENTRY, REVISION_ENTRY, DB_ENTRY], "kv"],
      [["/registry/a", DB_ENTRY], "kv"],
    ];
    const archives = await pyTarGzMany(cases.map(([names]) => [names.map(e)]));
    for (const [i, [names, mode]] of cases.entries()) {
      const summary = await verifyArchive(chunked(archives[i]!));
      expect({ names, mode: summary.mode }).toEqual({ names, mode });
    }
  });

  it("round-trips vsnap archives at every level, both compressions, arbitrary chunking", async () => {
    const next = random(7);
    const keys = Array.from({ length: 250 }, (_, i) =>
      kv(
        `/registry/k/${String(i).padStart(4, "0")}${i % 17 === 0 ? "-ü" : ""}`,
        objectValue(i, Math.floor(next() * 5000)),
      ),
    );
    for (const compression of ["parallel", "single"] as const) {
      for (const compressionLevel of [1, 3, 6, 9]) {
        const { bytes, manifest } = await archiveBytes({
          readPoint: kvReadPoint(keys),
          metadata: METADATA,
          compression,
          compressionLevel,
          blockSize: 64 * 1024,
        });
        const reader = readArchive(chunked(bytes, 1 + Math.floor(next() * 70_000)));
        const got = [];
        for await (const kvPair of archiveKeyValues(reader)) got.push(kvPair);
        expect(got).toEqual(keys);
        expect(reader.result).toMatchObject({ verified: true, manifest, mode: "kv", keys: keys.length });
      }
    }
  });

  it("drains entries the consumer skips or reads only partly, and still checks them", async () => {
    const keys = Array.from({ length: 60 }, (_, i) =>
      kv(`/registry/k/${i}`, objectValue(i, 3000 + i * 1000)),
    );
    const db = Buffer.alloc(3_000_000, 9);
    for (const readPoint of [kvReadPoint(keys), dbReadPoint(db)]) {
      const { bytes, manifest } = await archiveBytes({ readPoint, metadata: METADATA });
      const reader = readArchive(chunked(bytes, 10_000));
      let i = 0;
      for await (const entry of reader) {
        if (i % 3 === 1) await entry.bytes();
        if (i % 3 === 2) {
          for await (const _ of entry.stream()) break; // one chunk, then move on
        }
        i++;
      }
      expect(reader.result).toMatchObject({
        verified: true,
        sha256: manifest.sha256,
        entries: manifest.entries,
      });
    }
  });

  it("streams a db entry and checks etcd's sha256 trailer when there is one", async () => {
    const body = Buffer.alloc(512 * 300, 3);
    const db = Buffer.concat([body, createHash("sha256").update(body).digest()]);
    const { bytes } = await archiveBytes({ readPoint: dbReadPoint(db), metadata: METADATA });
    expect(await verifyArchive(chunked(bytes, 5000))).toMatchObject({
      mode: "db",
      verified: true,
      etcdChecksumVerified: true,
      revision: 77,
    });
    const reader = readArchive(chunked(bytes, 5000));
    for await (const entry of reader) {
      if (entry.kind !== "db") continue;
      const parts: Buffer[] = [];
      for await (const chunk of entry.stream()) parts.push(Buffer.from(chunk));
      expect(Buffer.concat(parts).equals(db)).toBe(true);
    }
    // vCluster's db archive (no manifest) whose db does not match etcd's trailer.
    const bad = Buffer.from(db);
    bad[100]! ^= 1;
    const [archive, plain] = await pyTarGzMany([
      [
        [
          [RELEASE_ENTRY, Buffer.from("{}")],
          [DB_ENTRY, bad],
        ],
      ],
      [[[DB_ENTRY, body]]],
    ]);
    await expect(verifyArchive(chunked(archive!))).rejects.toMatchObject({
      code: "INTEGRITY",
      message: expect.stringMatching(/etcd db checksum mismatch/),
    });
    const noTrailer = await verifyArchive(chunked(plain!));
    expect(noTrailer).toMatchObject({ mode: "db", verified: false });
    expect(noTrailer.etcdChecksumVerified).toBeUndefined();
  });

  it("archiveKeyValues yields keys only, and refuses a db archive clearly", async () => {
    const { bytes } = await archiveBytes({
      readPoint: kvReadPoint([kv("/registry/a", "1"), kv("/registry/b", "2")]),
      metadata: METADATA,
    });
    const got = [];
    for await (const pair of archiveKeyValues(readArchive(chunked(bytes))))
      got.push([pair.key, Buffer.from(pair.value).toString()]);
    expect(got).toEqual([
      ["/registry/a", "1"],
      ["/registry/b", "2"],
    ]);
    const db = await archiveBytes({ readPoint: dbReadPoint(Buffer.alloc(1024)), metadata: METADATA });
    const error = await (async () => {
      for await (const _ of archiveKeyValues(readArchive(chunked(db.bytes)))) {
        /* nothing */
      }
    })().catch((e: unknown) => e);
    expect(VsnapError.is(error, "UNSUPPORTED")).toBe(true);
    expect((error as Error).message).toMatch(/etcd db snapshot/);
  });

  it("rejects misuse: reading an entry after moving on, reading twice, iterating twice", async () => {
    const { bytes } = await archiveBytes({
      readPoint: kvReadPoint([kv("/registry/a", "1"), kv("/registry/b", "2")]),
    });
    const reader = readArchive(chunked(bytes));
    let previous: ArchiveEntry | undefined;
    for await (const entry of reader) {
      if (previous) await expect(previous.bytes()).rejects.toThrow(/was skipped/);
      if (entry.name === "/registry/a") {
        await entry.bytes();
        await expect(entry.bytes()).rejects.toThrow(/already being read/);
      }
      previous = entry;
    }
    expect(() => reader[Symbol.asyncIterator]()).toThrow(/only once/);
  });

  it("refuses entries that are not regular files", async () => {
    const flags = ["5", "2", "3"];
    const archives = await pyTarGzMany(
      flags.map((flag) => [[["/registry/a", Buffer.from("1")]], { special: [["/registry/dir", flag]] }]),
    );
    for (const archive of archives) {
      await expect(verifyArchive(chunked(archive))).rejects.toMatchObject({
        code: "UNSUPPORTED",
        message: expect.stringMatching(/only regular files/),
      });
    }
  });

  it("reports a manifest entry and checks it when present", async () => {
    const { bytes, manifest } = await archiveBytes({ readPoint: kvReadPoint([kv("/registry/a", "1")]) });
    const { entries, result } = await readAll(chunked(bytes));
    expect(entries.map(([n]) => n)).toEqual([REVISION_ENTRY, "/registry/a", MANIFEST_ENTRY]);
    expect(JSON.parse(entries[2]![1].toString())).toEqual(manifest);
    expect(result).toMatchObject({
      verified: true,
      manifest,
      entries: 2,
      keys: 1,
      compressedBytes: bytes.length,
    });
  });
});
