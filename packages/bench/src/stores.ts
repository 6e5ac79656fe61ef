import { existsSync } from "node:fs";
import path from "node:path";
import { PluginRegistry, type Store, type StorePlugin } from "@vsnap/core";
import type { StoreSpec } from "./jobs.js";
import { loadStorePlugin } from "./optional.js";

/**
 * A store the benchmark writes to: how a child reaches it, where its bytes land (for temp-disk
 * accounting) and how a scripted baseline uploads a finished file to the same place.
 */
export interface BenchStore {
  readonly name: "container" | "s3" | "oci";
  /** The store for one object; `dir` is a fresh folder this run may use. */
  spec(key: string, dir: string): StoreSpec;
  /** The local folder the object lands in (container only), watched for temp files. */
  outputDir(dir: string): string | undefined;
  /** A shell command that uploads `file` (a shell word, already quoted) to the object `key`, as a user's script would. */
  uploadCommand(file: string, key: string, dir: string): string;
  /** Removes an object again (keeps the server's memory and disk small between runs). */
  remove(key: string, dir: string): Promise<void>;
  close(): Promise<void>;
}

export interface StoreSetup {
  readonly stores: BenchStore[];
  /** Why a store is absent from the results. */
  readonly skipped: { readonly name: string; readonly reason: string }[];
  readonly versions: Record<string, string>;
}

const AWS = existsSync("/usr/bin/aws") ? "/usr/bin/aws" : "aws";
const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

async function openWith(plugin: StorePlugin, spec: StoreSpec): Promise<{ store: Store; key: string }> {
  const { store, location } = await PluginRegistry.of(plugin).open(spec.url, {
    env: { ...process.env, ...spec.env },
  });
  return { store, key: location.key };
}

async function removeWith(plugin: StorePlugin, spec: StoreSpec): Promise<void> {
  const { store, key } = await openWith(plugin, spec);
  try {
    await store.delete(key);
  } finally {
    await store.close();
  }
}

function containerStore(plugin: StorePlugin): BenchStore {
  const spec = (key: string, dir: string): StoreSpec => ({
    name: "container",
    plugin: "@vsnap/store-container",
    url: `container://${path.join(dir, "out", key)}`,
    env: {},
  });
  return {
    name: "container",
    spec,
    outputDir: (dir) => path.join(dir, "out"),
    uploadCommand: (file, key, dir) => `cp ${file} ${q(path.join(dir, "out", key))}`,
    remove: (key, dir) => removeWith(plugin, spec(key, dir)),
    close: async () => {},
  };
}

interface RgwLike {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  close(): Promise<void>;
}

async function s3Store(plugin: StorePlugin, memstoreBytes: number): Promise<BenchStore> {
  const { startRgw } = (await import("@vsnap/test-servers/rgw")) as {
    startRgw(o: { memstoreBytes?: number }): Promise<RgwLike>;
  };
  const rgw = await startRgw({ memstoreBytes });
  const bucket = "vsnap-bench";
  const env = {
    AWS_ACCESS_KEY_ID: rgw.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    AWS_REGION: rgw.region,
    AWS_DEFAULT_REGION: rgw.region,
    AWS_EC2_METADATA_DISABLED: "true",
  };
  const { execFile } = await import("node:child_process");
  await new Promise<void>((resolve, reject) =>
    execFile(
      AWS,
      ["--endpoint-url", rgw.endpoint, "s3", "mb", `s3://${bucket}`],
      { env: { ...process.env, ...env } },
      (e) => (e ? reject(new Error(`creating the S3 bucket failed: ${e.message}`)) : resolve()),
    ),
  );
  const endpoint64 = Buffer.from(rgw.endpoint).toString("base64");
  const spec = (key: string): StoreSpec => ({
    name: "s3",
    plugin: "@vsnap/store-s3",
    url: `s3://${bucket}/${key}?url=${encodeURIComponent(endpoint64)}&force-path-style=true&region=${rgw.region}`,
    env,
  });
  const awsEnv = Object.entries(env)
    .map(([k, v]) => `${k}=${q(v)}`)
    .join(" ");
  return {
    name: "s3",
    spec,
    outputDir: () => undefined,
    uploadCommand: (file, key) =>
      `${awsEnv} ${AWS} --endpoint-url ${rgw.endpoint} s3 cp --only-show-errors ${file} s3://${bucket}/${key}`,
    remove: (key) => removeWith(plugin, spec(key)),
    close: () => rgw.close(),
  };
}

interface RegistryLike {
  /** host:port, or an URL. */
  readonly host?: string;
  readonly endpoint?: string;
  readonly url?: string;
  close(): Promise<void>;
}

async function ociStore(plugin: StorePlugin): Promise<BenchStore> {
  const { startRegistry } = (await import("@vsnap/test-servers/registry")) as {
    startRegistry(o?: Record<string, unknown>): Promise<RegistryLike>;
  };
  const registry = await startRegistry();
  const raw = registry.host ?? registry.endpoint ?? registry.url;
  if (!raw) throw new Error("startRegistry() returned no host/endpoint");
  const host = raw.replace(/^https?:\/\//, "").replace(/\/$/, "");
  const repo = "bench/snapshots";
  const tag = (key: string) => key.replace(/\.tar\.gz$/, "").replace(/[^A-Za-z0-9_.-]/g, "-");
  const spec = (key: string): StoreSpec => ({
    name: "oci",
    plugin: "@vsnap/store-oci",
    url: `oci://${host}/${repo}:${tag(key)}`,
    env: {},
  });
  return {
    name: "oci",
    spec,
    outputDir: () => undefined,
    uploadCommand: (file, key) => ociPushScript(`http://${host}`, repo, tag(key), file),
    remove: (key) => removeWith(plugin, spec(key)),
    close: () => registry.close(),
  };
}

/** What a user scripts without oras: push the file as one blob, an empty config, and a manifest (curl). */
function ociPushScript(registry: string, repo: string, tag: string, file: string): string {
  const lines = [
    "set -euo pipefail",
    `R=${q(registry)}; REPO=${q(repo)}; TAG=${q(tag)}; F=${file}`,
    `push() { loc=$(curl -sSf -X POST -D - -o /dev/null "$R/v2/$REPO/blobs/uploads/" | awk 'tolower($1)=="location:"{print $2}' | tr -d '\\r'); case "$loc" in http*) ;; *) loc="$R$loc";; esac; case "$loc" in *\\?*) s='&';; *) s='?';; esac; curl -sSf -T "$1" -H 'Content-Type: application/octet-stream' -o /dev/null "$loc\${s}digest=$2"; }`,
    `LD=sha256:$(sha256sum "$F" | cut -d' ' -f1); LS=$(stat -c %s "$F")`,
    `printf '{}' > "$TMPDIR/config.json"; CD=sha256:$(sha256sum "$TMPDIR/config.json" | cut -d' ' -f1)`,
    `push "$F" "$LD"; push "$TMPDIR/config.json" "$CD"`,
    `printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.loft.vcluster-snapshot","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' "$CD" "$LD" "$LS" > "$TMPDIR/manifest.json"`,
    `curl -sSf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$TMPDIR/manifest.json" -o /dev/null "$R/v2/$REPO/manifests/$TAG"`,
    `rm -f "$TMPDIR/config.json" "$TMPDIR/manifest.json"`,
  ];
  return `(\n${lines.join("\n")}\n)`;
}

export interface StoreRequest {
  readonly names: readonly string[];
  /** RAM for radosgw's memstore OSD: must hold the largest archive plus some. */
  readonly rgwMemstoreBytes: number;
  readonly log: (message: string) => void;
}

/** Starts the stores that are installed (and their local servers); notes why others are skipped. */
export async function setupStores(request: StoreRequest): Promise<StoreSetup> {
  const stores: BenchStore[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const versions: Record<string, string> = {};
  const wanted = (name: string) => request.names.includes(name);
  const attempt = async (name: string, pkg: string, make: (plugin: StorePlugin) => Promise<BenchStore>) => {
    if (!wanted(name)) return;
    const plugin = await loadStorePlugin(pkg);
    if (!plugin.ok) {
      skipped.push({ name, reason: plugin.reason });
      return;
    }
    try {
      request.log(`starting store ${name}`);
      stores.push(await make(plugin.value));
      versions[pkg] = await packageVersion(pkg);
    } catch (error) {
      skipped.push({
        name,
        reason: `its local server could not start: ${(error as Error).message.split("\n")[0]}`,
      });
    }
  };
  await attempt("container", "@vsnap/store-container", async (p) => containerStore(p));
  await attempt("s3", "@vsnap/store-s3", (p) => s3Store(p, request.rgwMemstoreBytes));
  await attempt("oci", "@vsnap/store-oci", (p) => ociStore(p));
  return { stores, skipped, versions };
}

export async function packageVersion(pkg: string): Promise<string> {
  try {
    const module = (await import(`${pkg}/package.json`, { with: { type: "json" } })) as {
      default: { version: string };
    };
    return module.default.version;
  } catch {
    return "?";
  }
}
