import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { VsnapError } from "@vsnap/core";
import { registryError } from "../http/errors.js";
import type { RegistryClient } from "../http/registry-client.js";
import { discard, headerValue, readText } from "../http/transport.js";
import { type ChunkPolicy, GHCR_CHUNK_CAP, MiB } from "./chunk-policy.js";
import { ChunkReader } from "./chunk-reader.js";

export interface BlobUploadOptions {
  readonly policy: ChunkPolicy;
  /** Where the monolithic fallback spools the body. */
  readonly tmpDir: string;
  readonly signal?: AbortSignal;
  /** Bytes the registry has acknowledged so far. */
  readonly onProgress?: (bytes: number) => void;
  readonly log?: (message: string) => void;
}

export interface UploadedBlob {
  readonly digest: string;
  readonly size: number;
  /** False when the registry already had it and nothing was sent. */
  readonly uploaded: boolean;
}

/** A PATCH refused as a method (405/501/UNSUPPORTED): the registry wants monolithic uploads. */
class ChunkedUploadRefused extends Error {}

/** How often a chunk may be retried without the registry's offset moving before we give up. */
const MAX_STALLS = 3;
/** Pieces are never split below this when a registry refuses a size it does not name. */
const MIN_PIECE = 1 * MiB;

/**
 * Streams a blob of unknown size and digest into the repository without a temp file: chunked PATCH
 * uploads (Content-Range) hashed as they are read, the last chunk sent with the closing
 * `PUT ?digest=`. A body that fits in one chunk goes as one monolithic PUT (after a HEAD, so a blob
 * the registry already has is not sent again). A registry that refuses PATCH gets a monolithic PUT
 * from a temp file instead, the only way to learn the digest first.
 */
export async function uploadBlobStream(
  client: RegistryClient,
  source: AsyncIterable<Uint8Array>,
  options: BlobUploadOptions,
): Promise<UploadedBlob> {
  const reader = new ChunkReader(source, options.signal);
  const hash = createHash("sha256");
  let total = 0;
  const take = async (size: number): Promise<Buffer> => {
    const chunk = await reader.read(size);
    hash.update(chunk);
    total += chunk.length;
    return chunk;
  };
  let session: UploadSession | undefined;
  try {
    if (options.policy.chunkSize === 0) {
      return await spoolAndPut(client, Buffer.alloc(0), { reader, hash, take, total: () => total }, options);
    }
    let chunk = await take(options.policy.chunkSize);
    if (await reader.atEnd()) {
      const digest = digestOf(hash);
      const uploaded = await putSmallBlob(client, chunk, digest, options.signal);
      options.onProgress?.(total);
      return { digest, size: total, uploaded };
    }
    session = await UploadSession.start(client, options);
    if (chunk.length < session.chunkSize) {
      // the registry wants bigger chunks (OCI-Chunk-Min-Length): copy first, `take` reuses its buffer
      const head = Buffer.from(chunk);
      chunk = Buffer.concat([head, await take(session.chunkSize - head.length)]);
    }
    let offset = 0;
    for (;;) {
      if (await reader.atEnd()) {
        const digest = digestOf(hash);
        await session.finish(chunk, offset, digest);
        session = undefined;
        options.onProgress?.(total);
        return { digest, size: total, uploaded: true };
      }
      try {
        await session.send(chunk, offset);
      } catch (error) {
        if (!(error instanceof ChunkedUploadRefused) || offset > 0) throw error;
        options.log?.(
          `${client.baseUrl} refuses chunked uploads; spooling to a temp file for a monolithic PUT`,
        );
        const refused = session;
        session = undefined;
        await refused.cancel();
        return await spoolAndPut(client, chunk, { reader, hash, take, total: () => total }, options);
      }
      offset += chunk.length;
      options.onProgress?.(offset);
      chunk = await take(session.chunkSize);
    }
  } catch (error) {
    await session?.cancel();
    throw error;
  } finally {
    reader.close();
  }
}

/** The open upload session: its current Location (registries rotate it per request) and chunk sizes. */
class UploadSession {
  readonly #client: RegistryClient;
  readonly #options: BlobUploadOptions;
  #location: string;
  chunkSize: number;
  #pieceCap: number;
  readonly #minChunk: number;

  private constructor(
    client: RegistryClient,
    options: BlobUploadOptions,
    location: string,
    minLength: number,
  ) {
    this.#client = client;
    this.#options = options;
    this.#location = location;
    this.#minChunk = Math.max(options.policy.minChunkSize, minLength);
    this.chunkSize = Math.max(options.policy.chunkSize, this.#minChunk);
    this.#pieceCap = this.chunkSize;
    if (minLength > options.policy.chunkSize) {
      options.log?.(`registry asks for chunks of at least ${minLength} bytes (OCI-Chunk-Min-Length)`);
    }
  }

  static async start(client: RegistryClient, options: BlobUploadOptions): Promise<UploadSession> {
    const { location, minLength } = await startUpload(client, options.signal);
    return new UploadSession(client, options, location, minLength);
  }

  /** PATCHes `chunk` (which starts at `offset` of the blob), resuming from the registry's offset after a 416. */
  async send(chunk: Buffer, offset: number): Promise<void> {
    let pos = 0;
    let stalls = 0;
    while (pos < chunk.length) {
      const piece = chunk.subarray(pos, pos + this.#pieceCap);
      const start = offset + pos;
      const res = await this.#client.send({
        method: "PATCH",
        url: this.#location,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${start}-${start + piece.length - 1}`,
        },
        body: () => piece,
        access: "push",
        ...sig(this.#options.signal),
      });
      this.#follow(res.headers);
      let serverOffset: number;
      if (res.status === 202 || res.status === 201 || res.status === 204) {
        // 201 is ECR's answer to a PATCH; 202 the spec's
        await discard(res);
        const range = rangeOffset(headerValue(res.headers, "range"));
        serverOffset = range === undefined || range === 0 ? start + piece.length : range;
        if (serverOffset > start + piece.length) {
          throw new VsnapError(
            "INTEGRITY",
            `registry claims ${serverOffset} bytes of an upload we sent ${start + piece.length} of`,
          );
        }
      } else if (res.status === 416) {
        const text = await readText(res, 64 * 1024).catch(() => "");
        serverOffset = (await this.#status()) ?? start;
        this.#options.log?.(
          `registry answered 416 at ${start} (${text.trim().slice(0, 120)}); resuming at ${serverOffset}`,
        );
      } else if (res.status === 413) {
        await discard(res);
        serverOffset = start;
      } else if (
        pos === 0 &&
        offset === 0 &&
        (res.status === 405 || res.status === 501 || res.status === 404 || res.status === 400)
      ) {
        const text = await readText(res, 64 * 1024).catch(() => "");
        if (res.status === 405 || res.status === 501 || /UNSUPPORTED/.test(text))
          throw new ChunkedUploadRefused();
        throw registryError("PATCH blob upload", res.status, text);
      } else {
        const text = await readText(res, 64 * 1024).catch(() => "");
        throw registryError("PATCH blob upload", res.status, text);
      }
      if (serverOffset < offset || serverOffset > offset + chunk.length) {
        throw new VsnapError(
          "UNAVAILABLE",
          `registry lost part of the upload: it holds ${serverOffset} bytes, expected ${offset}–${offset + chunk.length}`,
          { hint: "a streamed upload cannot resend data already passed on; retry the snapshot" },
        );
      }
      const next = serverOffset - offset;
      if (next > pos) {
        pos = next;
        stalls = 0;
        continue;
      }
      // no progress: the registry refused the piece as it is; a size it takes is the usual cure
      stalls++;
      if (stalls > MAX_STALLS) {
        throw new VsnapError(
          "UNAVAILABLE",
          `registry keeps refusing the upload at byte ${start} (HTTP ${res.status})`,
          {
            hint: "try a smaller chunk-size=MiB parameter, or chunk-size=0 for one monolithic upload",
          },
        );
      }
      this.#shrink(piece.length);
    }
  }

  /** The closing `PUT ?digest=` carrying the last chunk; split into PATCHes if the registry refuses its size. */
  async finish(chunk: Buffer, offset: number, digest: string): Promise<void> {
    let res = await this.#put(chunk, digest);
    if ((res.status === 413 || res.status === 416) && chunk.length > 0) {
      await discard(res);
      await this.send(chunk, offset);
      res = await this.#put(Buffer.alloc(0), digest);
    }
    await this.#client.expect(res, [201, 200, 204], "PUT blob upload (commit)", integrityHint);
    await discard(res);
    const stored = headerValue(res.headers, "docker-content-digest");
    if (stored && stored !== digest) {
      throw new VsnapError("INTEGRITY", `registry stored the blob as ${stored}, but vsnap sent ${digest}`);
    }
  }

  /** Best effort: lets the registry free a half-done upload (failure, abort, fallback). */
  async cancel(): Promise<void> {
    try {
      const res = await this.#client.send({ method: "DELETE", url: this.#location, access: "push" });
      await discard(res);
    } catch {
      // the upload expires on the registry anyway
    }
  }

  #put(body: Buffer, digest: string) {
    return this.#client.send({
      method: "PUT",
      url: withQuery(this.#location, "digest", digest),
      headers: { "content-type": "application/octet-stream" },
      body: () => body,
      access: "push",
      ...sig(this.#options.signal),
    });
  }

  /** GET on the upload URL: how many bytes the registry holds (from `Range: 0-N`). */
  async #status(): Promise<number | undefined> {
    const res = await this.#client.send({
      method: "GET",
      url: this.#location,
      access: "push",
      ...sig(this.#options.signal),
    });
    this.#follow(res.headers);
    await discard(res);
    if (res.status !== 204 && res.status !== 200) return undefined;
    return rangeOffset(headerValue(res.headers, "range")) ?? 0;
  }

  #follow(headers: Parameters<typeof headerValue>[0]): void {
    const location = headerValue(headers, "location");
    if (location) this.#location = this.#client.resolve(location);
  }

  #shrink(refused: number): void {
    const floor = Math.max(this.#minChunk, MIN_PIECE);
    const next = refused > GHCR_CHUNK_CAP ? GHCR_CHUNK_CAP : Math.floor(refused / 2);
    if (next < floor || next >= refused) {
      throw new VsnapError(
        "UNAVAILABLE",
        `registry refuses upload pieces of ${refused} bytes and no smaller size is allowed`,
        {
          hint: "try chunk-size=0 for one monolithic upload",
        },
      );
    }
    this.#options.log?.(`registry refused a ${refused}-byte chunk; using ${next}-byte chunks`);
    this.#pieceCap = next;
    this.chunkSize = Math.max(next, this.#minChunk);
  }
}

const integrityHint =
  "the registry computed another digest than vsnap did: data was lost or damaged on the way; retry, and if this registry mishandles chunked uploads, add chunk-size=0 to the URL";

async function startUpload(
  client: RegistryClient,
  signal: AbortSignal | undefined,
): Promise<{ location: string; minLength: number }> {
  const res = await client.send({
    method: "POST",
    url: `/v2/${client.repository}/blobs/uploads/`,
    headers: { "content-length": "0" },
    access: "push",
    ...sig(signal),
  });
  await client.expect(res, [202], "POST blob upload");
  await discard(res);
  const location = headerValue(res.headers, "location");
  if (!location) throw new VsnapError("UNAVAILABLE", "registry started an upload without a Location header");
  const min = Number.parseInt(headerValue(res.headers, "oci-chunk-min-length") ?? "", 10);
  return { location: client.resolve(location), minLength: Number.isFinite(min) && min > 0 ? min : 0 };
}

/** A blob whose bytes (and so digest) are all known: HEAD, then POST + one PUT when missing. */
export async function putSmallBlob(
  client: RegistryClient,
  bytes: Buffer,
  digest: string,
  signal?: AbortSignal,
): Promise<boolean> {
  if (await client.blobExists(digest, signal)) return false;
  const { location } = await startUpload(client, signal);
  const res = await client.send({
    method: "PUT",
    url: withQuery(location, "digest", digest),
    headers: { "content-type": "application/octet-stream" },
    body: () => bytes,
    access: "push",
    ...sig(signal),
  });
  await client.expect(res, [201, 200, 204], "PUT blob", integrityHint);
  await discard(res);
  return true;
}

interface SpoolState {
  readonly reader: ChunkReader;
  readonly hash: Hash;
  readonly take: (size: number) => Promise<Buffer>;
  readonly total: () => number;
}

/** Monolithic fallback: the body goes to a temp file (hashed on the way), then one PUT with its digest. */
async function spoolAndPut(
  client: RegistryClient,
  first: Buffer,
  state: SpoolState,
  options: BlobUploadOptions,
): Promise<UploadedBlob> {
  const dir = await mkdtemp(path.join(options.tmpDir, "vsnap-oci-"));
  try {
    const file = path.join(dir, "blob");
    const handle = await open(file, "w", 0o600);
    try {
      if (first.length) await handle.write(first);
      while (!(await state.reader.atEnd())) await handle.write(await state.take(4 * MiB));
    } finally {
      await handle.close();
    }
    const digest = digestOf(state.hash);
    const size = state.total();
    if (await client.blobExists(digest, options.signal)) {
      options.onProgress?.(size);
      return { digest, size, uploaded: false };
    }
    const { location } = await startUpload(client, options.signal);
    const res = await client.send({
      method: "PUT",
      url: withQuery(location, "digest", digest),
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
      body: () => createReadStream(file).pipe(progressCounter(options.onProgress)),
      access: "push",
      ...sig(options.signal),
    });
    await client.expect(res, [201, 200, 204], "PUT blob (monolithic)", integrityHint);
    await discard(res);
    return { digest, size, uploaded: true };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function progressCounter(onProgress: ((bytes: number) => void) | undefined): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      onProgress?.(bytes);
      callback(null, chunk);
    },
  });
}

function digestOf(hash: Hash): string {
  return `sha256:${hash.digest("hex")}`;
}

/** Appends a query parameter without re-encoding the registry's opaque upload state. */
function withQuery(url: string, name: string, value: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}${name}=${encodeURIComponent(value)}`;
}

/** `Range: 0-499` (or `bytes=0-499`) → 500 bytes held. distribution says `0-0` for an empty upload. */
function rangeOffset(range: string | undefined): number | undefined {
  const match = range ? /(\d+)-(\d+)/.exec(range) : null;
  if (!match) return undefined;
  const end = Number(match[2]);
  return end === 0 ? 0 : end + 1;
}

function sig(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}
