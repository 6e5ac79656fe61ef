import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import tarStream from "tar-stream";
import { describe, expect, it } from "vitest";
import { readArchive } from "../src/index.js";
import { archiveBytes, collect, kv, kvReadPoint, METADATA, run } from "./archive-helpers.js";

// tar-stream (the npm ecosystem's tar reader/writer) as an independent implementation: it must read
// what we write entry for entry, and we must read what it writes, including its PAX long names.
const tricky = [
  kv("/registry/configmaps/default/plain", "v"),
  kv(`/registry/apiextensions.k8s.io/customresourcedefinitions/${"x".repeat(120)}.example.com`, "long name"),
  kv(`/registry/${"deep/".repeat(40)}leaf`, "over 255 bytes"),
  kv("/registry/configmaps/ns/ünïcødé-名前", Buffer.from([0, 1, 2, 255])),
  kv("/registry/secrets/ns/empty", Buffer.alloc(0)),
].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));

async function extractWithTarStream(
  gz: Buffer,
): Promise<{ name: string; body: Buffer; mode: number | undefined }[]> {
  const entries: { name: string; body: Buffer; mode: number | undefined }[] = [];
  const extract = tarStream.extract();
  extract.on("entry", (header, stream, next) => {
    const parts: Buffer[] = [];
    stream.on("data", (d: unknown) => parts.push(d as Buffer));
    stream.on("end", () => {
      entries.push({ name: header.name, body: Buffer.concat(parts), mode: header.mode });
      next();
    });
  });
  await pipeline(Readable.from([gz]), zlib.createGunzip(), extract);
  return entries;
}

describe("interop with tar-stream", () => {
  it("tar-stream reads every entry we write, names and contents intact", async () => {
    const { bytes } = await archiveBytes({ readPoint: kvReadPoint(tricky), metadata: METADATA });
    const entries = await extractWithTarStream(bytes);
    const keys = entries.filter((e) => !e.name.startsWith("/vcluster/snapshot/"));
    expect(keys.map((e) => e.name)).toEqual(tricky.map((e) => e.key));
    expect(keys.map((e) => e.body.toString("base64"))).toEqual(
      tricky.map((e) => Buffer.from(e.value).toString("base64")),
    );
    expect(new Set(keys.map((e) => e.mode))).toEqual(new Set([0o666]));
    expect(entries.at(-1)?.name).toBe("/vcluster/snapshot/vsnap/manifest");
  });

  it("we read an archive tar-stream writes exactly as GNU tar and Python do", async () => {
    const pack = tarStream.pack();
    for (const { key, value } of tricky)
      pack.entry({ name: key, mode: 0o666, mtime: new Date(0) }, Buffer.from(value));
    pack.finalize();
    const gz = await collect(pack.pipe(zlib.createGzip({ level: 6 })));
    const seen: { key: string; value: string }[] = [];
    for await (const entry of readArchive([gz]))
      seen.push({ key: entry.name, value: (await entry.bytes()).toString("base64") });
    expect(seen.map((e) => e.value)).toEqual(tricky.map((e) => Buffer.from(e.value).toString("base64")));
    const gnu = (await run("tar", ["-tPzf", "-"], gz)).stdout.toString("utf8").trim().split("\n");
    expect(seen.map((e) => e.key)).toEqual(gnu);
    // tar-stream's writer drops the leading "/" of an absolute name it splits into a USTAR prefix
    // (GNU tar and Python read it that way too): one reason vsnap writes its own headers, as Go does.
    const deep = tricky.findIndex((e) => e.key.startsWith("/registry/deep/"));
    expect(seen[deep]?.key).toBe(tricky[deep]?.key.slice(1));
  });
});
