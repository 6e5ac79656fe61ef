import { readdirSync } from "node:fs";
import { type QuirkProxy, startQuirkProxy } from "@vsnap/test-servers/oci-quirk-proxy";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RegistryAuth } from "../src/http/auth.js";
import { RegistryClient } from "../src/http/registry-client.js";
import { Transport } from "../src/http/transport.js";
import { EMPTY_CONFIG_DIGEST } from "../src/index.js";
import { collect, MiB, openStore, payload, readAll, tempDir, testEnv, uniqueRepo } from "./helpers.js";

const registry = inject("registryPlain");

/**
 * GHCR, ECR and registries without chunked uploads cannot be reached from here: a proxy in front of
 * the real docker-registry re-enacts what a client sees from them (status codes, headers, refusals),
 * while the registry behind it still stores and checks every byte.
 */
describe("registry quirks, re-enacted by a proxy in front of the real registry", () => {
  let proxy: QuirkProxy;
  beforeAll(async () => {
    proxy = await startQuirkProxy(registry.url);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  async function pushAndPull(
    size: number,
    query = "",
    env: Record<string, string | undefined> = testEnv(),
  ): Promise<{ patches: number[]; injected: number[] }> {
    proxy.requests.length = 0;
    const store = await openStore(`oci://${proxy.host}/${uniqueRepo("quirk")}${query}`, { env });
    try {
      const data = payload(size);
      const info = await store.put("v1", data.chunks(100_000));
      expect(info.size).toBe(size);
      const back = await readAll((await store.get("v1")).body);
      expect(back.equals(data.bytes)).toBe(true);
    } finally {
      await store.close();
    }
    const patches = proxy.requests.filter((r) => r.method === "PATCH" && !r.injected).map((r) => r.bodyBytes);
    const injected = proxy.requests.filter((r) => r.injected).map((r) => r.status);
    return { patches, injected };
  }

  it("GHCR: a 416 for a chunk over 4 MiB makes the upload continue in 4 MiB chunks", async () => {
    proxy.rules = { maxPatchBytes: 4 * MiB };
    const { patches, injected } = await pushAndPull(13 * MiB);
    expect(injected).toEqual([416]);
    expect(patches).toEqual([4 * MiB, 4 * MiB, 4 * MiB]);
    expect(Math.max(...patches)).toBeLessThanOrEqual(4 * MiB);
  });

  it("ECR: 201 instead of 202 for PATCH, and no part under 5 MiB but the last", async () => {
    proxy.rules = { patchStatus: 201, minPatchBytes: 5 * MiB };
    const { patches, injected } = await pushAndPull(17 * MiB, "?chunk-size=5");
    expect(injected).toEqual([]);
    expect(patches).toEqual([5 * MiB, 5 * MiB, 5 * MiB]);
    const answered = proxy.requests.filter((r) => r.method === "PATCH").map((r) => r.status);
    expect(answered).toEqual([201, 201, 201]);
  });

  it("honours OCI-Chunk-Min-Length over a smaller configured chunk size", async () => {
    proxy.rules = { chunkMinLength: 6 * MiB };
    const { patches, injected } = await pushAndPull(13 * MiB, "?chunk-size=2");
    expect(injected).toEqual([]);
    expect(patches.length).toBeGreaterThan(0);
    expect(Math.min(...patches)).toBeGreaterThanOrEqual(6 * MiB);
  });

  it("resumes after a 416 from the registry's Range when a chunk arrived only in part", async () => {
    proxy.rules = { partialPatchAt: [2], partialFraction: 0.5 };
    const { injected } = await pushAndPull(17 * MiB);
    expect(injected).toEqual([416]);
    // the status query after the 416, then the rest of the interrupted chunk
    const afterFailure = proxy.requests.slice(proxy.requests.findIndex((r) => r.injected) + 1);
    expect(afterFailure[0]?.method).toBe("GET");
    expect(afterFailure[1]).toMatchObject({
      method: "PATCH",
      bodyBytes: 4 * MiB,
      contentRange: `${12 * MiB}-${16 * MiB - 1}`,
    });
  });

  it("resumes after a 416 whose chunk had in fact arrived whole (lost answer)", async () => {
    proxy.rules = { partialPatchAt: [1], partialFraction: 1 };
    const { injected } = await pushAndPull(17 * MiB);
    expect(injected).toEqual([416]);
    // chunk 1 was not sent again: the next PATCH starts at 8 MiB
    const ranges = proxy.requests.filter((r) => r.method === "PATCH").map((r) => r.contentRange);
    expect(ranges).toEqual([`0-${8 * MiB - 1}`, `${8 * MiB}-${16 * MiB - 1}`]);
  });

  it("falls back to one monolithic PUT from a temp file when the registry refuses PATCH", async () => {
    proxy.rules = { rejectPatch: true };
    const tmp = tempDir("spool");
    const { patches, injected } = await pushAndPull(9 * MiB, "", testEnv({ VSNAP_TMPDIR: tmp }));
    expect(injected).toEqual([405]);
    expect(patches).toEqual([]);
    const puts = proxy.requests.filter((r) => r.method === "PUT" && r.path.includes("/blobs/uploads/"));
    expect(puts.at(-1)?.bodyBytes).toBe(9 * MiB);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("skips blobs the registry already has", async () => {
    proxy.rules = {};
    const url = `oci://${proxy.host}/${uniqueRepo("dedupe")}`;
    const first = await openStore(url);
    const second = await openStore(url);
    try {
      const data = payload(300_000);
      await first.put("first", data.chunks());
      proxy.requests.length = 0;
      // a fresh store: it checks the config blob as well as the layer
      await second.put("second", data.chunks());
      expect(proxy.requests.filter((r) => r.path.includes("/blobs/uploads/"))).toEqual([]);
      const heads = proxy.requests.filter((r) => r.method === "HEAD" && r.path.includes("/blobs/"));
      expect(heads.map((r) => [r.path.split("/").pop(), r.status])).toEqual([
        [EMPTY_CONFIG_DIGEST, 200],
        [`sha256:${data.sha256}`, 200],
      ]);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it("follows the tags list's Link header page by page", async () => {
    proxy.rules = { pageTags: true };
    const repo = uniqueRepo("pages");
    const store = await openStore(`oci://${proxy.host}/${repo}`);
    const transport = new Transport({ userAgent: "vsnap-test" });
    try {
      const tags = ["t1", "t2", "t3", "t4", "t5", "t6", "t7"];
      for (const tag of tags) await store.put(tag, payload(10).chunks());
      const client = new RegistryClient({
        baseUrl: proxy.url,
        repository: repo,
        transport,
        auth: new RegistryAuth({ registry: proxy.host, transport, credentials: async () => undefined }),
        tagsPageSize: 3,
      });
      proxy.requests.length = 0;
      expect(await collect(client.tags())).toEqual(tags);
      expect(proxy.requests.filter((r) => r.path.endsWith("/tags/list"))).toHaveLength(3);
      expect((await collect(store.list("t"))).map((i) => i.key)).toEqual(tags);
    } finally {
      await Promise.all([store.close(), transport.close()]);
    }
  });

  it("cancels the upload session when a push fails midway", async () => {
    proxy.rules = { maxPatchBytes: 1 };
    const store = await openStore(`oci://${proxy.host}/${uniqueRepo("cancel")}?chunk-size=2`);
    try {
      proxy.requests.length = 0;
      const error = await store
        .put("v1", payload(9 * MiB).chunks())
        .catch((e: unknown) => e as { code?: string });
      expect(error).toMatchObject({ code: "UNAVAILABLE" });
      expect(proxy.requests.at(-1)).toMatchObject({ method: "DELETE", status: 204 });
      expect(await store.stat("v1")).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
