import type { Readable } from "node:stream";
import { inspect } from "node:util";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectTaggingCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import {
  isAbortError,
  type ObjectInfo,
  type ObjectReader,
  type OperationOptions,
  type PutOptions,
  type Store,
  throwIfAborted,
  VsnapError,
} from "@vsnap/core";
import type { ResolvedEncryption } from "./encryption.js";
import { annotationsToMetadata, metadataToAnnotations } from "./metadata.js";
import { isBodyError, sweepStaleUploads, type UploadResult, uploadStream } from "./multipart-upload.js";
import type { PartLimits } from "./part-plan.js";
import { s3Error } from "./s3-errors.js";
import type { S3Options } from "./s3-options.js";

/** Only these objects are snapshots: list shows nothing else (as vCluster's list). */
export const SNAPSHOT_SUFFIX = ".tar.gz";

export interface S3StoreInit {
  readonly client: S3Client;
  readonly options: S3Options;
  readonly region: string;
  readonly encryption: ResolvedEncryption;
  /** Display URL of any object in the location (secrets masked); its path is replaced per key. */
  readonly display: string;
  readonly log?: ((message: string) => void) | undefined;
  /** Multipart limits; tests lower them to exercise part growth without uploading gigabytes. */
  readonly limits?: PartLimits | undefined;
  /** Keys per ListObjectsV2 page (S3's default and maximum is 1000); tests lower it to exercise paging. */
  readonly listPageSize?: number | undefined;
}

/** Snapshots under one prefix ("directory") of an S3 bucket. */
export class S3Store implements Store {
  readonly location: string;
  readonly region: string;
  readonly #client: S3Client;
  readonly #options: S3Options;
  readonly #encryption: ResolvedEncryption;
  readonly #display: URL;
  readonly #log: ((message: string) => void) | undefined;
  readonly #limits: PartLimits | undefined;
  readonly #listPageSize: number | undefined;
  readonly #closing = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #openBodies = new Set<Readable>();
  #closed = false;

  constructor(init: S3StoreInit) {
    this.#client = init.client;
    this.#options = init.options;
    this.#encryption = init.encryption;
    this.region = init.region;
    this.#display = new URL(init.display);
    this.#log = init.log;
    this.#limits = init.limits;
    this.#listPageSize = init.listPageSize;
    this.location = this.#displayOf("");
  }

  /** The bucket and prefix this store writes under. */
  get bucket(): string {
    return this.#options.bucket;
  }

  get prefix(): string {
    return this.#options.prefix;
  }

  /** The underlying client, for tools that need more than the Store contract (tests, benchmarks). */
  get client(): S3Client {
    return this.#client;
  }

  /** The full object key of a store key. */
  objectKey(key: string): string {
    return `${this.#options.prefix}${key}`;
  }

  async put(key: string, body: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<ObjectInfo> {
    const objectKey = this.#key(key, "put");
    const display = this.#displayOf(key);
    throwIfAborted(options.signal, `put ${display}`);
    const signal = this.#signal(options.signal);
    const started = new Date();
    const target = {
      bucket: this.#options.bucket,
      key: objectKey,
      write: this.#encryption.write,
      access: this.#encryption.access,
      tagging: this.#options.tagging,
      metadata: () =>
        annotationsToMetadata(
          typeof options.annotations === "function" ? options.annotations() : options.annotations,
        ),
      checksumAlgorithm: this.#options.checksumAlgorithm,
    };
    return this.#track(
      (async () => {
        let uploaded: UploadResult;
        try {
          uploaded = await uploadStream(this.#client, target, body, {
            signal,
            onProgress: options.onProgress,
            sizeHint: options.sizeHint,
            limits: this.#limits,
            display,
            log: this.#log,
          });
        } catch (error) {
          if (isBodyError(error)) throw error;
          throw this.#error(error, "put", display, signal);
        }
        if (uploaded.parts > 0 && target.tagging) await this.#ensureTags(objectKey, target.tagging, display);
        await sweepStaleUploads(this.#client, target, started, this.#log);
        const info = await this.#head(key, objectKey, display, undefined);
        if (!info)
          throw new VsnapError("UNAVAILABLE", `put ${display}: the object is not readable after upload`);
        return info;
      })(),
    );
  }

  async get(key: string, options: OperationOptions = {}): Promise<ObjectReader> {
    const objectKey = this.#key(key, "get");
    const display = this.#displayOf(key);
    throwIfAborted(options.signal, `get ${display}`);
    const signal = this.#signal(options.signal);
    let out: GetObjectCommandOutput;
    try {
      out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#options.bucket, Key: objectKey, ...this.#encryption.access }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw this.#missing(error, "get", display, signal);
    }
    const stream = out.Body as Readable | undefined;
    if (
      !stream ||
      typeof (stream as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== "function"
    ) {
      throw new VsnapError("PLUGIN", `get ${display}: the S3 client returned no readable body`);
    }
    const info = this.#info(key, display, out);
    this.#openBodies.add(stream);
    return { info, body: this.#body(stream, info, display, signal) };
  }

  async stat(key: string, options: OperationOptions = {}): Promise<ObjectInfo | undefined> {
    const objectKey = this.#key(key, "stat");
    const display = this.#displayOf(key);
    throwIfAborted(options.signal, `stat ${display}`);
    return this.#head(key, objectKey, display, this.#signal(options.signal));
  }

  async *list(prefix = "", options: OperationOptions = {}): AsyncGenerator<ObjectInfo> {
    this.#assertOpen("list");
    throwIfAborted(options.signal, `list ${this.location}`);
    const signal = this.#signal(options.signal);
    const root = this.#options.prefix;
    let token: string | undefined;
    do {
      let page: Awaited<ReturnType<typeof this.listPage>>;
      try {
        page = await this.listPage(`${root}${prefix}`, token, signal, this.#listPageSize);
      } catch (error) {
        throw this.#error(error, "list", this.location, signal);
      }
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(root.length);
        // Delimiter "/" keeps deeper keys out; the check is for services that ignore it.
        if (!name || name.includes("/") || !name.endsWith(SNAPSHOT_SUFFIX)) continue;
        const display = this.#displayOf(name);
        yield {
          key: name,
          url: display,
          size: object.Size ?? 0,
          modified: object.LastModified ?? new Date(0),
          ...(object.ETag ? { etag: unquote(object.ETag) } : {}),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** One ListObjectsV2 page of keys directly under `prefix` ("/" is the directory boundary). */
  async listPage(prefix: string, token: string | undefined, signal?: AbortSignal, maxKeys?: number) {
    return this.#client.send(
      new ListObjectsV2Command({
        Bucket: this.#options.bucket,
        Prefix: prefix,
        Delimiter: "/",
        ...(token ? { ContinuationToken: token } : {}),
        ...(maxKeys ? { MaxKeys: maxKeys } : {}),
      }),
      { abortSignal: signal },
    );
  }

  async delete(key: string, options: OperationOptions = {}): Promise<void> {
    const objectKey = this.#key(key, "delete");
    const display = this.#displayOf(key);
    throwIfAborted(options.signal, `delete ${display}`);
    const signal = this.#signal(options.signal);
    try {
      const out = await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: objectKey }),
        {
          abortSignal: signal,
        },
      );
      if (out.DeleteMarker) {
        this.#log?.(
          `${display}: the bucket is versioned, so S3 added a delete marker${out.VersionId ? ` (version ${out.VersionId})` : ""}; earlier versions of the snapshot remain until they are deleted by version or expire by a lifecycle rule`,
        );
      }
    } catch (error) {
      const mapped = this.#error(error, "delete", display, signal);
      if (mapped.code === "NOT_FOUND" && (error as { name?: string }).name !== "NoSuchBucket") return;
      throw mapped;
    }
  }

  /** Aborts puts still running (their multipart uploads are aborted) and closes unread bodies. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort(new VsnapError("ABORTED", `store ${this.location} was closed`));
    await Promise.allSettled([...this.#pending]);
    for (const body of this.#openBodies) body.destroy();
    this.#openBodies.clear();
    this.#client.destroy();
  }

  toString(): string {
    return `S3Store(${this.location})`;
  }

  toJSON(): { plugin: string; location: string } {
    return { plugin: "s3", location: this.location };
  }

  [inspect.custom](): string {
    return this.toString();
  }

  async #head(
    key: string,
    objectKey: string,
    display: string,
    signal: AbortSignal | undefined,
  ): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#options.bucket, Key: objectKey, ...this.#encryption.access }),
        { abortSignal: signal },
      );
      return this.#info(key, display, out);
    } catch (error) {
      const mapped = this.#error(error, "stat", display, signal);
      // A missing bucket is a configuration error, not a missing snapshot.
      if (mapped.code === "NOT_FOUND" && (error as { name?: string }).name !== "NoSuchBucket")
        return undefined;
      if (mapped.code === "PERMISSION_DENIED" && !(error as { Code?: string }).Code) {
        throw await this.#explainForbidden(objectKey, display, signal, mapped);
      }
      throw mapped;
    }
  }

  /**
   * A HEAD response has no body, so a 403 does not say whether the signature or the permissions
   * were wrong. A one-byte GET of the same key does; it is only sent once something has failed.
   */
  async #explainForbidden(
    objectKey: string,
    display: string,
    signal: AbortSignal | undefined,
    fallback: VsnapError,
  ): Promise<VsnapError> {
    try {
      const out = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#options.bucket,
          Key: objectKey,
          Range: "bytes=0-0",
          ...this.#encryption.access,
        }),
        { abortSignal: signal },
      );
      (out.Body as Readable | undefined)?.destroy();
      return fallback;
    } catch (error) {
      const explained = this.#error(error, "stat", display, signal);
      return explained.code === "UNAUTHENTICATED" ? explained : fallback;
    }
  }

  /**
   * Some S3-compatible services (Ceph radosgw up to at least 16.2) drop x-amz-tagging on
   * CreateMultipartUpload; tags then go on after completion. Best effort: lifecycle rules keyed
   * on tags are the usual reason for them, and a snapshot is not lost for want of a tag.
   */
  async #ensureTags(objectKey: string, tagging: string, display: string): Promise<void> {
    const wanted = [...new URLSearchParams(tagging)].map(([Key, Value]) => ({ Key, Value }));
    const same = (tags: { Key?: string | undefined; Value?: string | undefined }[]) =>
      tags.length === wanted.length &&
      wanted.every((w) => tags.some((t) => t.Key === w.Key && t.Value === w.Value));
    try {
      const out = await this.#client.send(
        new GetObjectTaggingCommand({ Bucket: this.#options.bucket, Key: objectKey }),
      );
      if (same(out.TagSet ?? [])) return;
      await this.#client.send(
        new PutObjectTaggingCommand({
          Bucket: this.#options.bucket,
          Key: objectKey,
          Tagging: { TagSet: wanted },
        }),
      );
    } catch (error) {
      this.#log?.(
        `${display}: could not check or set the object's tags: ${s3Error(error, "tag", display).message}`,
      );
    }
  }

  #info(
    key: string,
    display: string,
    out: Pick<HeadObjectCommandOutput, "ContentLength" | "LastModified" | "ETag" | "Metadata">,
  ): ObjectInfo {
    const annotations = metadataToAnnotations(out.Metadata);
    return {
      key,
      url: display,
      size: out.ContentLength ?? 0,
      modified: out.LastModified ?? new Date(0),
      ...(out.ETag ? { etag: unquote(out.ETag) } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    };
  }

  async *#body(
    stream: Readable,
    info: ObjectInfo,
    display: string,
    signal: AbortSignal,
  ): AsyncGenerator<Uint8Array> {
    const onAbort = () => stream.destroy(new VsnapError("ABORTED", `get ${display}: aborted`));
    signal.addEventListener("abort", onAbort, { once: true });
    let received = 0;
    try {
      throwIfAborted(signal, `get ${display}`);
      for await (const chunk of stream) {
        const bytes = chunk as Uint8Array;
        received += bytes.byteLength;
        yield bytes;
      }
      if (received !== info.size) {
        throw new VsnapError(
          "UNAVAILABLE",
          `get ${display}: the download ended after ${received} of ${info.size} bytes`,
          { hint: "the connection was cut; try again" },
        );
      }
    } catch (error) {
      throw this.#error(error, "get", display, signal);
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.#openBodies.delete(stream);
      // stopping early (break, error) must not leave the socket half-read in the pool
      if (!stream.destroyed) stream.destroy();
    }
  }

  #error(error: unknown, action: string, display: string, signal: AbortSignal | undefined): VsnapError {
    if (signal?.aborted || isAbortError(error)) {
      const reason = signal?.reason;
      if (VsnapError.is(reason, "ABORTED") && this.#closing.signal.aborted) return reason;
      return VsnapError.is(error, "ABORTED")
        ? error
        : new VsnapError("ABORTED", `${action} ${display}: aborted`, { cause: error });
    }
    return s3Error(error, action, display);
  }

  #missing(error: unknown, action: string, display: string, signal: AbortSignal): VsnapError {
    const mapped = this.#error(error, action, display, signal);
    if (mapped.code === "NOT_FOUND" && (error as { name?: string }).name !== "NoSuchBucket") {
      return new VsnapError("NOT_FOUND", `snapshot ${display} does not exist`, {
        cause: error,
        hint: `list the snapshots in ${this.location}`,
      });
    }
    return mapped;
  }

  #signal(signal: AbortSignal | undefined): AbortSignal {
    return signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
  }

  #track<T>(operation: Promise<T>): Promise<T> {
    this.#pending.add(operation);
    const forget = () => this.#pending.delete(operation);
    operation.then(forget, forget);
    return operation;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) {
      throw new VsnapError("FAILED_PRECONDITION", `cannot ${operation}: store ${this.location} is closed`);
    }
  }

  /** Keys are names within the store's prefix: the store never reaches outside it. */
  #key(key: string, operation: string): string {
    this.#assertOpen(operation);
    const bad = (why: string) =>
      new VsnapError(
        "INVALID_ARGUMENT",
        `${operation}: invalid snapshot key ${JSON.stringify(key)}: ${why}`,
        {
          hint: `a key is an object name in ${this.location}, e.g. my-snapshot${SNAPSHOT_SUFFIX}`,
        },
      );
    if (typeof key !== "string" || key === "") throw bad("a key is required");
    if (key.includes("/")) throw bad("it must be a name, without '/'");
    if (key === "." || key === "..") throw bad("it must be a name");
    if (Buffer.byteLength(this.objectKey(key)) > 1024) throw bad("S3 keys are at most 1024 bytes");
    return this.objectKey(key);
  }

  #displayOf(key: string): string {
    const url = new URL(this.#display.href);
    url.pathname = `/${this.#options.prefix}${key}`;
    return url.href;
  }
}

function unquote(etag: string): string {
  return etag.replace(/^"(.*)"$/, "$1");
}
