import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, inject, it } from "vitest";
import { ANNOTATION_CREATED, ANNOTATION_FILE_SHA256, ANNOTATION_FILE_SIZE } from "../src/index.js";
import { collect, errorOf, MiB, openStore, payload, readAll, uniqueRepo } from "./helpers.js";

const registry = inject("registryPlain");

describe("OCI store against a real registry (plain HTTP)", () => {
  it("round-trips a multi-chunk snapshot and reports acknowledged progress", async () => {
    const repo = uniqueRepo("roundtrip");
    const store = await openStore(`oci://${registry.host}/${repo}:snap-1`);
    try {
      const data = payload(19 * MiB + 12345);
      const progress: number[] = [];
      const info = await store.put("snap-1", data.chunks(), {
        annotations: () => ({ "dev.vsnap.archive.keys": "42" }),
        onProgress: (e) => progress.push(e.bytes),
      });
      expect(info.key).toBe("snap-1");
      expect(info.size).toBe(data.bytes.length);
      expect(info.url).toBe(`oci://${registry.host}/${repo}:snap-1`);
      expect(info.annotations).toMatchObject({
        "dev.vsnap.archive.keys": "42",
        [ANNOTATION_FILE_SHA256]: data.sha256,
        [ANNOTATION_FILE_SIZE]: String(data.bytes.length),
      });
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(progress.at(-1)).toBe(data.bytes.length);
      expect(progress.length).toBeGreaterThanOrEqual(3);

      const reader = await store.get("snap-1");
      const back = await readAll(reader.body);
      expect(createHash("sha256").update(back).digest("hex")).toBe(data.sha256);
      expect(reader.info.etag).toBe(info.etag);

      const stat = await store.stat("snap-1");
      expect(stat?.size).toBe(data.bytes.length);
      expect(stat?.modified.getTime()).toBe(Date.parse(info.annotations![ANNOTATION_CREATED]!));
      expect(await store.stat("missing")).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it("reads by digest, and refuses to push to one", async () => {
    const store = await openStore(`oci://${registry.host}/${uniqueRepo("digest")}`);
    try {
      const data = payload(3000);
      const info = await store.put("latest", data.chunks());
      const byDigest = await store.get(`@${info.etag}`);
      expect((await readAll(byDigest.body)).equals(data.bytes)).toBe(true);
      expect(byDigest.info.key).toBe(`@${info.etag}`);
      const error = await errorOf(store.put(`@${info.etag}`, data.chunks()));
      expect(error.code).toBe("INVALID_ARGUMENT");
    } finally {
      await store.close();
    }
  });

  it("answers NOT_FOUND for a missing tag and for a missing repository", async () => {
    const store = await openStore(`oci://${registry.host}/${uniqueRepo("missing")}`);
    try {
      const error = await errorOf(store.get("nope"));
      expect(error.code).toBe("NOT_FOUND");
      expect(await collect(store.list())).toEqual([]);
      await store.delete("nope");
    } finally {
      await store.close();
    }
  });

  it("lists snapshot tags by prefix with their annotations, newest content per tag", async () => {
    const store = await openStore(`oci://${registry.host}/${uniqueRepo("list")}`);
    try {
      for (const tag of ["daily-1", "daily-2", "weekly-1"]) await store.put(tag, payload(1000).chunks());
      const replaced = payload(2048);
      await store.put("daily-2", replaced.chunks());
      const daily = await collect(store.list("daily-"));
      expect(daily.map((i) => i.key)).toEqual(["daily-1", "daily-2"]);
      expect(daily[1]?.size).toBe(2048);
      expect(daily[1]?.annotations?.[ANNOTATION_FILE_SHA256]).toBe(replaced.sha256);
      expect((await collect(store.list())).length).toBe(3);
    } finally {
      await store.close();
    }
  });

  it("keeps the previous snapshot when a push is aborted, and leaves no tag for a new one", async () => {
    const store = await openStore(`oci://${registry.host}/${uniqueRepo("abort")}`);
    try {
      const first = payload(5000);
      await store.put("keep", first.chunks());
      for (const tag of ["keep", "fresh"]) {
        const controller = new AbortController();
        const data = payload(24 * MiB);
        const error = await errorOf(
          store.put(tag, data.chunks(), {
            signal: controller.signal,
            onProgress: () => controller.abort(),
          }),
        );
        expect(error.code).toBe("ABORTED");
      }
      expect((await readAll((await store.get("keep")).body)).equals(first.bytes)).toBe(true);
      expect(await store.stat("fresh")).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it("fails a read whose bytes do not match the manifest with INTEGRITY", async () => {
    const store = await openStore(`oci://${registry.host}/${uniqueRepo("corrupt")}`);
    try {
      const data = payload(4096);
      await store.put("v1", data.chunks());
      // damage the stored blob in the registry's own data dir
      const blob = path.join(
        registry.dataDir,
        "docker/registry/v2/blobs/sha256",
        data.sha256.slice(0, 2),
        data.sha256,
        "data",
      );
      const bytes = readFileSync(blob);
      bytes[100] = bytes[100]! ^ 0xff;
      writeFileSync(blob, bytes);
      const reader = await store.get("v1");
      const error = await errorOf(readAll(reader.body));
      expect(error.code).toBe("INTEGRITY");
    } finally {
      await store.close();
    }
  });
});
