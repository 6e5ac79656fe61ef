import { createHash } from "node:crypto";
import os from "node:os";
import {
  isAbortError,
  type ObjectInfo,
  type ObjectReader,
  type OperationOptions,
  type ParsedLocation,
  type PutOptions,
  type Store,
  type StoreContext,
  VsnapError,
} from "@vsnap/core";
import {
  buildSnapshotManifest,
  createdOf,
  type Descriptor,
  type FetchedManifest,
  type ImageManifest,
  isSnapshotArtifact,
  requireSnapshotLayer,
} from "./artifact.js";
import { resolveCredentials } from "./credentials/resolve.js";
import { RegistryAuth } from "./http/auth.js";
import { registryError } from "./http/errors.js";
import { RegistryClient } from "./http/registry-client.js";
import { type HttpResponse, Transport } from "./http/transport.js";
import { EMPTY_CONFIG_BYTES, EMPTY_CONFIG_DIGEST, OCI_MANIFEST_MEDIA_TYPE } from "./media-types.js";
import type { OciOptions, RegistryCredentials } from "./options.js";
import { OrasCli } from "./oras/oras-cli.js";
import { mapSettledOrdered } from "./ordered-pool.js";
import {
  apiHostOf,
  isDigestKey,
  isLoopbackHost,
  isValidTag,
  referenceString,
  TAG_HINT,
} from "./reference.js";
import { putSmallBlob, uploadBlobStream } from "./upload/blob-upload.js";
import { chunkPolicyFor } from "./upload/chunk-policy.js";
import { VERSION } from "./version.js";

/** Manifests fetched at once while listing: enough to hide latency, few enough for rate limits. */
const LIST_CONCURRENCY = 8;

export type OciClientKind = "http" | "oras";

/** The scheme the registry is spoken to with: plain HTTP for loopback hosts unless TLS options say otherwise. */
export function usesPlainHttp(options: OciOptions): boolean {
  if (options.plainHttp !== undefined) return options.plainHttp;
  return isLoopbackHost(options.registry) && !options.caCert && !options.insecureSkipTlsVerify;
}

export function clientKindFrom(env: StoreContext["env"]): OciClientKind {
  const raw = env.VSNAP_OCI_CLIENT?.trim().toLowerCase();
  if (!raw || raw === "http") return "http";
  if (raw === "oras") return "oras";
  throw new VsnapError("INVALID_ARGUMENT", `VSNAP_OCI_CLIENT must be "http" or "oras", got "${raw}"`);
}

/** A repository of an OCI registry as a vsnap store: keys are tags (or `@sha256:…` digests for reads). */
export class OciStore implements Store {
  readonly location: string;
  readonly #display: string;
  readonly #options: OciOptions;
  readonly #context: StoreContext;
  readonly #transport: Transport;
  readonly #client: RegistryClient;
  readonly #oras: OrasCli | undefined;
  #credentials: Promise<RegistryCredentials | undefined> | undefined;
  /** The empty config blob is the same for every snapshot: checked once per store. */
  #configPresent = false;

  constructor(location: ParsedLocation<OciOptions>, context: StoreContext) {
    const options = location.options;
    this.#options = options;
    this.#context = context;
    this.#display = location.display;
    this.location = rootDisplay(location.display);
    this.#transport = new Transport({
      ...(options.caCert ? { caCert: options.caCert } : {}),
      insecureSkipTlsVerify: options.insecureSkipTlsVerify,
      userAgent: `vsnap-store-oci/${VERSION}`,
    });
    const credentials = () => this.#resolveCredentials();
    const auth = new RegistryAuth({ registry: options.registry, transport: this.#transport, credentials });
    const plainHttp = usesPlainHttp(options);
    this.#client = new RegistryClient({
      baseUrl: `${plainHttp ? "http" : "https"}://${apiHostOf(options.registry)}`,
      repository: options.repository,
      transport: this.#transport,
      auth,
    });
    this.#oras =
      clientKindFrom(context.env) === "oras"
        ? new OrasCli({
            registry: apiHostOf(options.registry),
            repository: options.repository,
            plainHttp,
            insecureSkipTlsVerify: options.insecureSkipTlsVerify,
            ...(options.caCert ? { caCert: options.caCert } : {}),
            credentials,
            env: context.env,
            tmpDir: tmpDirOf(context),
          })
        : undefined;
  }

  /** The registry client (auth state included), for tests and diagnostics. */
  get client(): RegistryClient {
    return this.#client;
  }

  async put(key: string, body: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<ObjectInfo> {
    const tag = tagOf(key);
    const what = `push ${this.#ref(tag)}`;
    const { signal } = options;
    try {
      signal?.throwIfAborted();
      // never replace an image someone keeps under this tag with a snapshot
      const existing = await this.#client.getManifest(tag, signal);
      if (existing) requireSnapshotLayer(existing, this.#ref(tag));
      const progress = (bytes: number) =>
        options.onProgress?.({
          bytes,
          ...(options.sizeHint !== undefined ? { totalBytes: options.sizeHint } : {}),
        });
      if (this.#oras) {
        await this.#oras.push(tag, body, {
          annotations: () => annotationsOf(options),
          onProgress: progress,
          ...sig(signal),
        });
        const pushed = await this.#oras.fetchManifest(tag, signal);
        if (!pushed)
          throw new VsnapError("UNAVAILABLE", `oras push ${this.#ref(tag)} left no manifest behind`);
        return this.#info(tag, pushed);
      }
      await this.#ensureEmptyConfig(signal);
      const layer = await uploadBlobStream(this.#client, body, {
        policy: chunkPolicyFor(this.#options.registry, this.#options.chunkSize),
        tmpDir: tmpDirOf(this.#context),
        onProgress: progress,
        ...(this.#context.log ? { log: this.#context.log } : {}),
        ...sig(signal),
      });
      // called only now: the caller's figures (key count) are final once the body has been read
      const built = buildSnapshotManifest(layer, annotationsOf(options));
      // the last moment an abort leaves the old tag in place
      signal?.throwIfAborted();
      const digest = await this.#client.putManifest(tag, built.bytes, OCI_MANIFEST_MEDIA_TYPE, signal);
      return this.#info(tag, {
        digest,
        mediaType: OCI_MANIFEST_MEDIA_TYPE,
        bytes: built.bytes,
        manifest: built.manifest,
      });
    } catch (error) {
      throw wrap(error, what, signal);
    }
  }

  async get(key: string, options: OperationOptions = {}): Promise<ObjectReader> {
    const reference = referenceOf(key);
    const { signal } = options;
    try {
      const fetched = this.#oras
        ? await this.#oras.fetchManifest(reference, signal)
        : await this.#client.getManifest(reference, signal);
      if (!fetched) throw this.#notFound(key);
      const layer = requireSnapshotLayer(fetched, this.#ref(key));
      const info = this.#info(key, fetched);
      if (this.#oras) {
        const chunks = await this.#oras.fetchBlob(layer.digest, signal);
        return { info, body: verified(chunks, layer, this.#ref(key), signal) };
      }
      const res = await this.#client.openBlob(layer.digest, signal);
      return { info, body: verified(bodyChunks(res), layer, this.#ref(key), signal) };
    } catch (error) {
      throw wrap(error, `pull ${this.#ref(key)}`, signal);
    }
  }

  async stat(key: string, options: OperationOptions = {}): Promise<ObjectInfo | undefined> {
    const reference = referenceOf(key);
    try {
      const fetched = await this.#client.getManifest(reference, options.signal);
      if (!fetched) return undefined;
      requireSnapshotLayer(fetched, this.#ref(key));
      return this.#info(key, fetched);
    } catch (error) {
      throw wrap(error, `stat ${this.#ref(key)}`, options.signal);
    }
  }

  async *list(prefix = "", options: OperationOptions = {}): AsyncIterable<ObjectInfo> {
    const { signal } = options;
    const client = this.#client;
    // registries page tags in their own order (2.8 does not sort); names are small, so sort them all
    async function* matching(): AsyncIterable<string> {
      const tags: string[] = [];
      for await (const tag of client.tags(signal)) if (tag.startsWith(prefix)) tags.push(tag);
      yield* tags.sort();
    }
    try {
      for await (const result of mapSettledOrdered(matching(), LIST_CONCURRENCY, (tag) =>
        client.getManifest(tag, signal),
      )) {
        if (!result.ok) {
          // one broken tag (a manifest the registry cannot serve) must not hide every other snapshot
          if (isFatalForList(result.error, signal)) throw result.error;
          this.#context.log?.(`skipping tag ${result.item}: ${(result.error as Error).message}`);
          continue;
        }
        const fetched = result.value;
        if (fetched && isSnapshotArtifact(fetched.manifest)) yield this.#info(result.item, fetched);
      }
    } catch (error) {
      throw wrap(error, `list ${this.#ref("")}`, signal);
    }
  }

  async delete(key: string, options: OperationOptions = {}): Promise<void> {
    const reference = referenceOf(key);
    const { signal } = options;
    try {
      const fetched = await this.#client.getManifest(reference, signal);
      if (!fetched) return;
      requireSnapshotLayer(fetched, this.#ref(key));
      if (!isDigestKey(key)) {
        // deleting the tag alone (OCI 1.1) keeps other tags of the same manifest; 2.8 refuses it (400/405)
        const byTag = await this.#client.deleteManifest(reference, signal);
        if (byTag.status === 202 || byTag.status === 200 || byTag.status === 204 || byTag.status === 404)
          return;
        if (byTag.status !== 400 && byTag.status !== 405 && byTag.status !== 501) {
          throw registryError(`DELETE manifest ${key}`, byTag.status, byTag.text);
        }
      }
      const byDigest = await this.#client.deleteManifest(fetched.digest, signal);
      if (
        byDigest.status === 202 ||
        byDigest.status === 200 ||
        byDigest.status === 204 ||
        byDigest.status === 404
      ) {
        return;
      }
      const error = registryError(`DELETE manifest ${fetched.digest}`, byDigest.status, byDigest.text);
      if (error.code === "UNSUPPORTED") {
        throw new VsnapError("UNSUPPORTED", `${this.#options.registry} does not allow deleting manifests`, {
          hint: "docker-registry/distribution: set storage.delete.enabled: true; GHCR and Docker Hub: delete the version in the web UI or with the vendor's API",
        });
      }
      throw error;
    } catch (error) {
      throw wrap(error, `delete ${this.#ref(key)}`, signal);
    }
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }

  #resolveCredentials(): Promise<RegistryCredentials | undefined> {
    this.#credentials ??= resolveCredentials(this.#options, {
      env: this.#context.env,
      ...(this.#context.log ? { log: this.#context.log } : {}),
    });
    return this.#credentials;
  }

  async #ensureEmptyConfig(signal: AbortSignal | undefined): Promise<void> {
    if (this.#configPresent) return;
    await putSmallBlob(this.#client, EMPTY_CONFIG_BYTES, EMPTY_CONFIG_DIGEST, signal);
    this.#configPresent = true;
  }

  #ref(key: string): string {
    return key
      ? referenceString(this.#options, key)
      : `${this.#options.registry}/${this.#options.repository}`;
  }

  #notFound(key: string): VsnapError {
    return new VsnapError("NOT_FOUND", `no snapshot at ${this.#ref(key)}`, {
      hint: `list the repository's snapshots with: vsnap snapshot list ${this.location}`,
    });
  }

  #info(key: string, fetched: FetchedManifest): ObjectInfo {
    const manifest = fetched.manifest as ImageManifest;
    const layer = requireSnapshotLayer(fetched, this.#ref(key));
    return {
      key,
      url: keyDisplay(this.location, key),
      size: layer.size,
      modified: createdOf(manifest),
      etag: fetched.digest,
      annotations: { ...(manifest.annotations ?? {}) },
    };
  }
}

function annotationsOf(options: PutOptions): Readonly<Record<string, string>> {
  const given = options.annotations;
  return (typeof given === "function" ? given() : given) ?? {};
}

function tagOf(key: string): string {
  if (isDigestKey(key)) {
    throw new VsnapError("INVALID_ARGUMENT", `cannot push to a digest (${key}); name a tag`, {
      hint: "e.g. oci://REGISTRY/REPO:my-snapshot",
    });
  }
  if (!isValidTag(key))
    throw new VsnapError("INVALID_ARGUMENT", `"${key}" is not a valid OCI tag`, { hint: TAG_HINT });
  return key;
}

/** A key as the manifests endpoint takes it: a tag, or the digest without its `@`. */
function referenceOf(key: string): string {
  if (isDigestKey(key)) return key.slice(1);
  return tagOf(key);
}

async function* bodyChunks(res: HttpResponse): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of res.body) yield chunk as Uint8Array;
  } finally {
    if (!res.body.readableEnded) res.body.destroy();
  }
}

/** The blob's bytes, checked against the descriptor's size and digest before the stream ends. */
async function* verified(
  chunks: AsyncIterable<Uint8Array>,
  layer: Descriptor,
  display: string,
  signal: AbortSignal | undefined,
): AsyncIterable<Uint8Array> {
  const [algorithm, expected] = layer.digest.split(":") as [string, string];
  const hash = createHash(algorithm === "sha512" ? "sha512" : "sha256");
  let size = 0;
  try {
    for await (const chunk of chunks) {
      hash.update(chunk);
      size += chunk.length;
      if (size > layer.size)
        throw integrity(display, `more than the ${layer.size} bytes its manifest records`);
      yield chunk;
    }
  } catch (error) {
    throw wrap(error, `pull ${display}`, signal);
  }
  if (size !== layer.size) throw integrity(display, `${size} bytes, the manifest records ${layer.size}`);
  const actual = hash.digest("hex");
  if (actual !== expected)
    throw integrity(display, `digest ${algorithm}:${actual}, the manifest records ${layer.digest}`);
}

function integrity(display: string, what: string): VsnapError {
  return new VsnapError("INTEGRITY", `the snapshot layer of ${display} arrived with ${what}`, {
    hint: "the registry served damaged data, or the download was cut; retry",
  });
}

function isFatalForList(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted || isAbortError(error)) return true;
  return VsnapError.is(error, "UNAUTHENTICATED") || VsnapError.is(error, "PERMISSION_DENIED");
}

function wrap(error: unknown, what: string, signal: AbortSignal | undefined): VsnapError {
  if (signal?.aborted && !VsnapError.is(error)) return new VsnapError("ABORTED", `${what}: aborted`);
  return VsnapError.wrap(error, "UNAVAILABLE", what);
}

function tmpDirOf(context: StoreContext): string {
  return context.env.VSNAP_TMPDIR || context.env.TMPDIR || os.tmpdir();
}

function sig(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

/** The store root for display: the location's display URL without the tag or digest. */
export function rootDisplay(display: string): string {
  const url = new URL(display);
  url.pathname = url.pathname.replace(/@[^/]*$/, "").replace(/:[^/:]*$/, "");
  return url.href;
}

/** An object's display URL: the root's with `:tag` or `@digest` on the repository path. */
export function keyDisplay(root: string, key: string): string {
  const url = new URL(root);
  url.pathname = `${url.pathname}${key.startsWith("@") ? key : `:${key}`}`;
  return url.href;
}
