import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import {
  isAbortError,
  isTransient,
  type ProgressListener,
  releaseView,
  throwIfAborted,
  VsnapError,
} from "@vsnap/core";
import type { SseCustomerFields, SseWriteFields } from "./encryption.js";
import { type PartLimits, PartPlan, S3_PART_LIMITS } from "./part-plan.js";
import type { ChecksumAlgorithmName } from "./s3-params.js";

export interface UploadTarget {
  readonly bucket: string;
  readonly key: string;
  /** SSE fields for PutObject / CreateMultipartUpload. */
  readonly write: SseWriteFields;
  /** SSE-C fields every part (and the completion) repeats. */
  readonly access: SseCustomerFields;
  readonly tagging?: string | undefined;
  /**
   * User metadata, asked for as late as possible: after the whole body for a single PutObject,
   * at CreateMultipartUpload (before the body ends) for larger ones.
   */
  readonly metadata?: (() => Record<string, string>) | undefined;
  readonly checksumAlgorithm?: ChecksumAlgorithmName | undefined;
}

export interface UploadOptions {
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ProgressListener | undefined;
  readonly sizeHint?: number | undefined;
  readonly limits?: PartLimits | undefined;
  /** Shown in errors: the object's display URL. */
  readonly display: string;
  readonly log?: ((message: string) => void) | undefined;
}

export interface UploadResult {
  readonly bytes: number;
  /** 0 when the body fit one PutObject. */
  readonly parts: number;
  /** Largest part size used, for reporting the memory bound. */
  readonly largestPart: number;
}

/**
 * Streams `body` to one S3 object. A body that fits in the first part goes as a single PutObject;
 * anything larger as a multipart upload whose parts grow with the upload (see PartPlan), with a few
 * parts in flight. Memory stays under (parts in flight + 1) × part size: 40 MiB for snapshots up to
 * 8 GiB with the default limits. S3 publishes nothing before CompleteMultipartUpload, so an error or
 * abort leaves no object; the upload is then aborted, so no parts linger either. Transient errors
 * (5xx, SlowDown, dropped connections) are retried per part by the SDK.
 */
export async function uploadStream(
  client: S3Client,
  target: UploadTarget,
  body: AsyncIterable<Uint8Array>,
  options: UploadOptions,
): Promise<UploadResult> {
  const { signal, display } = options;
  throwIfAborted(signal, `put ${display}`);
  const plan = new PartPlan(options.limits ?? S3_PART_LIMITS, options.sizeHint);
  const reader = new PartReader(body, display);
  try {
    const first = await reader.read(plan.partSize(1), signal);
    const second =
      first && first.length === plan.partSize(1) ? await reader.read(plan.partSize(2), signal) : undefined;
    if (!second) {
      const bytes = first ?? Buffer.alloc(0);
      // The last moment an abort can win: the signal is not passed on, because a PutObject cut off
      // after the server committed it would leave a new object behind an ABORTED error.
      throwIfAborted(signal, `put ${display}`);
      await client.send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: target.key,
          Body: bytes,
          ContentLength: bytes.length,
          ContentType: "application/gzip",
          ...target.write,
          ...(target.tagging ? { Tagging: target.tagging } : {}),
          ...metadataOf(target),
          ...(target.checksumAlgorithm ? { ChecksumAlgorithm: target.checksumAlgorithm } : {}),
        }),
      );
      options.onProgress?.({ bytes: bytes.length });
      return { bytes: bytes.length, parts: 0, largestPart: bytes.length };
    }
    return await multipart(client, target, reader, plan, [first as Buffer, second], options);
  } finally {
    reader.release();
  }
}

async function multipart(
  client: S3Client,
  target: UploadTarget,
  reader: PartReader,
  plan: PartPlan,
  firstParts: Buffer[],
  options: UploadOptions,
): Promise<UploadResult> {
  const { signal, display } = options;
  // Not cut off by the signal: an upload created on the server but whose id never reached us
  // could not be aborted. An abort that came meanwhile is honoured right after.
  const created = await client.send(
    new CreateMultipartUploadCommand({
      Bucket: target.bucket,
      Key: target.key,
      ContentType: "application/gzip",
      ...target.write,
      ...(target.tagging ? { Tagging: target.tagging } : {}),
      ...metadataOf(target),
      ...(target.checksumAlgorithm ? { ChecksumAlgorithm: target.checksumAlgorithm } : {}),
    }),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new VsnapError("UNAVAILABLE", `put ${display}: the service returned no upload id`);
  if (signal?.aborted) {
    await abortUpload(client, target, uploadId, options.log);
    throwIfAborted(signal, `put ${display}`);
  }

  // One failed part stops the others at once.
  const stopParts = new AbortController();
  const partSignal = signal ? AbortSignal.any([signal, stopParts.signal]) : stopParts.signal;
  const inFlight = new Set<Promise<void>>();
  const completed: CompletedPart[] = [];
  let failure: { error: unknown } | undefined;
  let uploaded = 0;
  let largestPart = 0;
  let partNumber = 0;

  const startPart = (body: Buffer) => {
    partNumber += 1;
    const number = partNumber;
    largestPart = Math.max(largestPart, body.length);
    const task = client
      .send(
        new UploadPartCommand({
          Bucket: target.bucket,
          Key: target.key,
          UploadId: uploadId,
          PartNumber: number,
          Body: body,
          ContentLength: body.length,
          ...target.access,
          ...(target.checksumAlgorithm ? { ChecksumAlgorithm: target.checksumAlgorithm } : {}),
        }),
        { abortSignal: partSignal },
      )
      .then((out) => {
        completed.push({
          PartNumber: number,
          ETag: out.ETag,
          ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
          ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
          ...(out.ChecksumCRC64NVME ? { ChecksumCRC64NVME: out.ChecksumCRC64NVME } : {}),
          ...(out.ChecksumSHA1 ? { ChecksumSHA1: out.ChecksumSHA1 } : {}),
          ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
        });
        uploaded += body.length;
        options.onProgress?.({ bytes: uploaded });
        // The part is done with: free its 8+ MiB now rather than at V8's next full collection.
        releaseView(body);
      })
      .catch((error: unknown) => {
        failure ??= { error };
        stopParts.abort();
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  };

  try {
    let next: Buffer | undefined = firstParts.shift();
    while (next) {
      while (inFlight.size >= plan.concurrency(plan.partSize(partNumber + 1)) && !failure)
        await Promise.race(inFlight);
      if (failure) break;
      startPart(next);
      next = firstParts.shift();
      if (!next) {
        next = await reader.read(plan.partSize(partNumber + 1), partSignal);
        if (next && partNumber >= plan.limits.maxParts) {
          throw new VsnapError(
            "INVALID_ARGUMENT",
            `put ${display}: the snapshot exceeds what ${plan.limits.maxParts} parts can hold (${plan.capacity()} bytes)`,
          );
        }
      }
    }
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    // The last moment an abort can still win: once completion is sent, the new object is committed.
    throwIfAborted(signal, `put ${display}`);
    completed.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: target.bucket,
        Key: target.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: completed },
        ...target.access,
      }),
    );
    return { bytes: uploaded, parts: completed.length, largestPart };
  } catch (error) {
    stopParts.abort();
    await Promise.allSettled([...inFlight]);
    await abortUpload(client, target, uploadId, options.log);
    // A part that failed because the caller aborted reads ABORTED, not as the SDK's AbortError.
    if (signal?.aborted && !VsnapError.is(error)) {
      throw new VsnapError("ABORTED", `put ${display}: aborted`, { cause: error });
    }
    throw failure && isAbortError(error) && !signal?.aborted ? failure.error : error;
  }
}

function metadataOf(target: UploadTarget): { Metadata?: Record<string, string> } {
  const metadata = target.metadata?.();
  return metadata && Object.keys(metadata).length > 0 ? { Metadata: metadata } : {};
}

/** Aborts a multipart upload, with its own deadline: the caller's signal may be what fired. */
export async function abortUpload(
  client: S3Client,
  target: Pick<UploadTarget, "bucket" | "key">,
  uploadId: string,
  log?: (message: string) => void,
): Promise<void> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, UploadId: uploadId }),
        { abortSignal: AbortSignal.timeout(30_000) },
      );
      return;
    } catch (error) {
      if ((error as { name?: string }).name === "NoSuchUpload") return;
      if (attempt === 3) {
        log?.(
          `could not abort multipart upload ${uploadId} of s3://${target.bucket}/${target.key} (${(error as Error).name}); a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes such leftovers`,
        );
      }
    }
  }
}

/**
 * Aborts unfinished multipart uploads of `key` begun before `before`: leftovers of a writer that
 * was killed, or an older snapshot of the same key that would otherwise overwrite this newer one
 * when it completed. Best effort: listing uploads may not be permitted.
 */
export async function sweepStaleUploads(
  client: S3Client,
  target: Pick<UploadTarget, "bucket" | "key">,
  before: Date,
  log?: (message: string) => void,
): Promise<number> {
  let swept = 0;
  try {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (let page = 0; page < 10; page++) {
      const out = await client.send(
        new ListMultipartUploadsCommand({
          Bucket: target.bucket,
          Prefix: target.key,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
        { abortSignal: AbortSignal.timeout(30_000) },
      );
      for (const upload of out.Uploads ?? []) {
        if (upload.Key !== target.key || !upload.UploadId) continue;
        if (upload.Initiated && upload.Initiated.getTime() >= before.getTime()) continue;
        await abortUpload(client, target, upload.UploadId, log);
        swept += 1;
      }
      if (!out.IsTruncated) break;
      keyMarker = out.NextKeyMarker;
      uploadIdMarker = out.NextUploadIdMarker;
    }
  } catch (error) {
    log?.(
      `could not list unfinished uploads of s3://${target.bucket}/${target.key}: ${(error as Error).name}`,
    );
  }
  if (swept > 0)
    log?.(
      `aborted ${swept} unfinished upload(s) of s3://${target.bucket}/${target.key} left by earlier writers`,
    );
  return swept;
}

/** Errors thrown by the caller's body, which the store passes on untouched. */
const bodyErrors = new WeakSet<object>();
export function isBodyError(error: unknown): boolean {
  return typeof error === "object" && error !== null && bodyErrors.has(error);
}

/** Cuts a stream of chunks into part-sized buffers; at most one buffer is being filled at a time. */
class PartReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  readonly #display: string;
  readonly #transient: boolean;
  #leftover: Uint8Array | undefined;
  /** The body has ended (or failed): nothing more to read, nothing to release. */
  #exhausted = false;

  constructor(body: AsyncIterable<Uint8Array>, display: string) {
    this.#iterator = body[Symbol.asyncIterator]();
    this.#display = display;
    // a marked body's chunks are ours: each is freed once copied into a part
    this.#transient = isTransient(body);
  }

  /** Up to `size` bytes; shorter only at the end of the body; undefined once it is exhausted. */
  async read(size: number, signal: AbortSignal | undefined): Promise<Buffer | undefined> {
    if (this.#exhausted && !this.#leftover) return undefined;
    const part = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      let chunk = this.#leftover;
      this.#leftover = undefined;
      if (!chunk) {
        if (this.#exhausted) break;
        const next = await this.#next(signal);
        if (next.done) {
          this.#exhausted = true;
          break;
        }
        chunk = next.value;
      }
      const take = Math.min(chunk.byteLength, size - filled);
      part.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), filled);
      filled += take;
      if (take < chunk.byteLength) this.#leftover = chunk.subarray(take);
      // (a chunk split between two parts is left to the collector: no piece of it is all its buffer)
      else if (this.#transient) releaseView(chunk);
    }
    return filled === 0 ? undefined : part.subarray(0, filled);
  }

  /** Lets go of a producer we stop early (not awaited: a stalled producer may never answer). */
  release(): void {
    this.#leftover = undefined;
    if (!this.#exhausted) {
      this.#exhausted = true;
      this.#iterator.return?.()?.catch(() => {});
    }
  }

  async #next(signal: AbortSignal | undefined): Promise<IteratorResult<Uint8Array>> {
    throwIfAborted(signal, `put ${this.#display}`);
    let next: IteratorResult<Uint8Array>;
    try {
      next = await nextOrAbort(this.#iterator, signal);
    } catch (error) {
      // The caller's abort always reads ABORTED (the producer is released later); the body's own
      // errors pass through untouched, and a failed iterator is finished: no return() on it.
      if (signal?.aborted) {
        throw VsnapError.is(error, "ABORTED")
          ? error
          : new VsnapError("ABORTED", `put ${this.#display}: aborted`, { cause: error });
      }
      this.#exhausted = true;
      if (typeof error === "object" && error !== null) bodyErrors.add(error);
      throw error;
    }
    if (!next.done && !(next.value instanceof Uint8Array)) {
      throw new VsnapError("INVALID_ARGUMENT", `put ${this.#display}: the body must yield Uint8Array chunks`);
    }
    return next;
  }
}

/** The iterator's next result, or a rejection as soon as the signal fires, even while the producer stalls. */
function nextOrAbort<T>(
  iterator: AsyncIterator<T>,
  signal: AbortSignal | undefined,
): Promise<IteratorResult<T>> {
  if (!signal) return iterator.next();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new VsnapError("ABORTED", "aborted", { cause: signal.reason }));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    iterator.next().then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
