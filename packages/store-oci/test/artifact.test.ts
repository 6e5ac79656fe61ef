import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type SnapshotSource, takeSnapshot, verifySnapshot } from "@vsnap/core";
import { execa } from "execa";
import { describe, expect, inject, it } from "vitest";
import {
  ANNOTATION_CREATED,
  ANNOTATION_FILE_SHA256,
  EMPTY_CONFIG_DIGEST,
  OCI_MANIFEST_MEDIA_TYPE,
  SNAPSHOT_ARTIFACT_TYPE,
  SNAPSHOT_LAYER_MEDIA_TYPE,
} from "../src/index.js";
import { collect, errorOf, MiB, openStore, payload, readAll, tempDir, uniqueRepo } from "./helpers.js";

const registry = inject("registryPlain");
const scratch = tempDir("skopeo");

const skopeo = (...args: string[]) => execa("skopeo", args, { timeout: 60_000 });

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** An OCI image layout holding one artifact, written by hand, for skopeo to push as "another tool". */
function ociLayout(name: string, manifest: object, blobs: Buffer[]): string {
  const dir = path.join(scratch, name);
  mkdirSync(path.join(dir, "blobs", "sha256"), { recursive: true });
  writeFileSync(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  for (const blob of [...blobs, manifestBytes])
    writeFileSync(path.join(dir, "blobs", "sha256", sha256(blob)), blob);
  writeFileSync(
    path.join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: OCI_MANIFEST_MEDIA_TYPE,
          digest: `sha256:${sha256(manifestBytes)}`,
          size: manifestBytes.length,
          annotations: { "org.opencontainers.image.ref.name": "v1" },
        },
      ],
    }),
  );
  return dir;
}

describe("the artifact, as an independent client (skopeo) sees it", () => {
  it("is vCluster's layout: OCI manifest, artifactType, empty config, one titled etcd layer, created", async () => {
    const repo = uniqueRepo("skopeo");
    const store = await openStore(`oci://${registry.host}/${repo}`);
    try {
      const data = payload(9 * MiB + 7);
      const info = await store.put("snap", data.chunks(), {
        annotations: { "dev.vsnap.backing-store": "etcd" },
      });
      const raw = await skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${registry.host}/${repo}:snap`,
      );
      expect(`sha256:${sha256(Buffer.from(raw.stdout))}`).toBe(info.etag);
      const manifest = JSON.parse(raw.stdout);
      expect(manifest).toMatchObject({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST_MEDIA_TYPE,
        artifactType: SNAPSHOT_ARTIFACT_TYPE,
        config: {
          mediaType: "application/vnd.oci.empty.v1+json",
          digest: EMPTY_CONFIG_DIGEST,
          size: 2,
          data: "e30=",
        },
        layers: [
          {
            mediaType: SNAPSHOT_LAYER_MEDIA_TYPE,
            digest: `sha256:${data.sha256}`,
            size: data.bytes.length,
            annotations: { "org.opencontainers.image.title": "etcd" },
          },
        ],
      });
      expect(manifest.layers).toHaveLength(1);
      expect(Number.isNaN(Date.parse(manifest.annotations[ANNOTATION_CREATED]))).toBe(false);
      expect(manifest.annotations["dev.vsnap.backing-store"]).toBe("etcd");

      const dir = path.join(scratch, "copied");
      await skopeo("copy", "--src-tls-verify=false", `docker://${registry.host}/${repo}:snap`, `dir:${dir}`);
      const layerFile = readdirSync(dir).find((f) => f === data.sha256);
      expect(layerFile).toBeDefined();
      expect(sha256(readFileSync(path.join(dir, layerFile!)))).toBe(data.sha256);
      const tags = await skopeo("list-tags", "--tls-verify=false", `docker://${registry.host}/${repo}`);
      expect(JSON.parse(tags.stdout).Tags).toEqual(["snap"]);
    } finally {
      await store.close();
    }
  });

  it("carries a real vsnap archive (core's takeSnapshot): layer digest, caller annotations, verify after pull", async () => {
    const repo = uniqueRepo("archive");
    const store = await openStore(`oci://${registry.host}/${repo}`);
    try {
      const keys = Array.from(
        { length: 500 },
        (_, i) => `/registry/configmaps/default/cm-${String(i).padStart(4, "0")}`,
      );
      const source: SnapshotSource = {
        kind: "etcd",
        description: "in-memory test source",
        open: async () => ({
          mode: "kv",
          kind: "etcd",
          revision: 42,
          totals: { keys: keys.length },
          async *entries() {
            for (const key of keys) yield { key, value: Buffer.from(`value of ${key} `.repeat(20)) };
          },
          close: async () => {},
        }),
      };
      const { info, manifest } = await takeSnapshot({
        source,
        store,
        key: "real",
        toolVersion: "0.0.0-test",
      });
      // the caller's archive digest (over entries) is kept beside the store's file digest
      expect(info.annotations?.["dev.vsnap.archive.sha256"]).toBe(manifest.sha256);
      expect(info.annotations?.["dev.vsnap.archive.keys"]).toBe(String(keys.length));
      const fileSha = info.annotations?.[ANNOTATION_FILE_SHA256];
      expect(fileSha).toMatch(/^[a-f0-9]{64}$/);

      const dir = path.join(scratch, "real-archive");
      await skopeo("copy", "--src-tls-verify=false", `docker://${registry.host}/${repo}:real`, `dir:${dir}`);
      expect(sha256(readFileSync(path.join(dir, fileSha!)))).toBe(fileSha);

      const summary = await verifySnapshot({ store, key: "real" });
      expect(summary).toMatchObject({ verified: true, keys: keys.length, sha256: manifest.sha256 });
    } finally {
      await store.close();
    }
  });

  it("reads a snapshot another tool pushed in vCluster's layout, and leaves foreign artifacts alone", async () => {
    const repo = uniqueRepo("foreign");
    const archive = payload(300_000);
    const empty = Buffer.from("{}");
    // what oras-go's PackManifest(v1.1) produces for vCluster (timestamps in seconds)
    const vcluster = ociLayout(
      "vcluster",
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST_MEDIA_TYPE,
        artifactType: SNAPSHOT_ARTIFACT_TYPE,
        config: {
          mediaType: "application/vnd.oci.empty.v1+json",
          digest: EMPTY_CONFIG_DIGEST,
          size: 2,
          data: "e30=",
        },
        layers: [
          {
            mediaType: SNAPSHOT_LAYER_MEDIA_TYPE,
            digest: `sha256:${archive.sha256}`,
            size: archive.bytes.length,
            annotations: { "org.opencontainers.image.title": "etcd" },
          },
        ],
        annotations: { [ANNOTATION_CREATED]: "2026-01-02T03:04:05Z" },
      },
      [empty, archive.bytes],
    );
    const chart = Buffer.from("not a snapshot");
    const helm = ociLayout(
      "helm",
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST_MEDIA_TYPE,
        config: {
          mediaType: "application/vnd.cncf.helm.config.v1+json",
          digest: `sha256:${sha256(empty)}`,
          size: 2,
        },
        layers: [
          {
            mediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            digest: `sha256:${sha256(chart)}`,
            size: chart.length,
          },
        ],
      },
      [empty, chart],
    );
    await skopeo(
      "copy",
      "--dest-tls-verify=false",
      `oci:${vcluster}:v1`,
      `docker://${registry.host}/${repo}:from-vcluster`,
    );
    await skopeo(
      "copy",
      "--dest-tls-verify=false",
      `oci:${helm}:v1`,
      `docker://${registry.host}/${repo}:chart`,
    );

    const store = await openStore(`oci://${registry.host}/${repo}`);
    try {
      const reader = await store.get("from-vcluster");
      expect((await readAll(reader.body)).equals(archive.bytes)).toBe(true);
      expect(reader.info.modified.toISOString()).toBe("2026-01-02T03:04:05.000Z");
      expect((await collect(store.list())).map((i) => i.key)).toEqual(["from-vcluster"]);
      for (const attempt of [
        () => store.get("chart"),
        () => store.stat("chart"),
        () => store.delete("chart"),
        () => store.put("chart", payload(10).chunks()),
      ]) {
        const error = await errorOf(attempt());
        expect(error.code).toBe("FAILED_PRECONDITION");
        expect(error.message).toContain("not a snapshot");
      }
      // the chart is still there, untouched
      const raw = await skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${registry.host}/${repo}:chart`,
      );
      expect(JSON.parse(raw.stdout).config.mediaType).toBe("application/vnd.cncf.helm.config.v1+json");
    } finally {
      await store.close();
    }
  });

  it("lists past a tag whose manifest the registry cannot serve", async () => {
    const repo = uniqueRepo("broken");
    const logs: string[] = [];
    const store = await openStore(`oci://${registry.host}/${repo}`, { log: (m) => logs.push(m) });
    try {
      await store.put("a-good", payload(100).chunks());
      const broken = await store.put("b-broken", payload(200).chunks());
      await store.put("c-good", payload(300).chunks());
      // destroy the stored manifest of one tag in the registry's data dir
      const hex = broken.etag!.replace("sha256:", "");
      writeFileSync(
        path.join(registry.dataDir, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data"),
        "{ garbage",
      );
      const keys = (await collect(store.list())).map((i) => i.key);
      expect(keys).toEqual(["a-good", "c-good"]);
      expect(logs.some((l) => l.includes("b-broken"))).toBe(true);
    } finally {
      await store.close();
    }
  });
});
