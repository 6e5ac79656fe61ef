import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";
import {
  EarlyWriteback,
  isAbortError,
  isTransient,
  type ProgressListener,
  releaseView,
  throwIfAborted,
  VsnapError,
  writeFully,
} from "@vsnap/core";
import { errnoOf, fsError } from "./fs-errors.js";

/** Every in-progress file ends with this; list skips them, so a crashed writer's leftovers never show. */
export const PART_SUFFIX = ".part";

export interface AtomicWriteOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
  /** Shown in errors instead of the bare path. */
  readonly display: string;
  /** Snapshots hold every Secret of a cluster: readable by the owner only, unless told otherwise. */
  readonly mode?: number;
  readonly log?: (message: string) => void;
}

export interface WrittenFile {
  readonly size: number;
  readonly modified: Date;
}

/**
 * Streams `body` into `<target>.<pid>-<random>.part` beside the target (flushing it to disk as it
 * grows), fsyncs it, renames it over the target and fsyncs the directory. Until the rename nothing
 * at `target` changes, so a crash, an abort or a full disk leaves the previous snapshot whole; on
 * error or abort the part is removed.
 */
export async function writeFileAtomically(
  target: string,
  body: AsyncIterable<Uint8Array>,
  options: AtomicWriteOptions,
): Promise<WrittenFile> {
  const { signal, display } = options;
  throwIfAborted(signal, `put ${display}`);
  const directory = path.dirname(target);
  try {
    await mkdir(directory, { recursive: true });
  } catch (error) {
    // mkdir -p reports EEXIST when the directory's own name is taken by a file
    if (errnoOf(error) === "EEXIST") {
      throw new VsnapError(
        "FAILED_PRECONDITION",
        `cannot write ${display}: ${directory} is a file, not a directory`,
        {
          cause: error,
          hint: "choose a path whose parent folders are directories",
        },
      );
    }
    throw fsError(error, "cannot create the directory for", display);
  }
  const part = `${target}.${process.pid}-${randomBytes(6).toString("hex")}${PART_SUFFIX}`;
  let handle: FileHandle | undefined;
  let writeback: EarlyWriteback | undefined;
  try {
    const writing = (error: unknown) => {
      throw fsError(error, "cannot write", display);
    };
    handle = await open(part, "wx", options.mode ?? 0o600).catch(writing);
    // flushed as it grows, so that the fsync below has little left to wait for
    writeback = new EarlyWriteback(handle);
    const size = await copyInto(handle, writeback, body, options);
    const stats = await handle.stat().catch(writing);
    // network and quota-bound file systems may report ENOSPC or EIO only here
    await writeback.sync().catch(writing);
    writeback = undefined;
    await handle.close().catch(writing);
    handle = undefined;
    // The last moment an abort can still win; after the rename the new snapshot is committed.
    throwIfAborted(signal, `put ${display}`);
    await rename(part, target).catch((error: unknown) => {
      throw fsError(error, "cannot replace", display);
    });
    await syncDirectory(directory, options.log);
    return { size, modified: stats.mtime };
  } catch (error) {
    await writeback?.close().catch(() => {});
    await handle?.close().catch(() => {});
    await rm(part, { force: true }).catch(() => {});
    throw error;
  }
}

async function copyInto(
  handle: FileHandle,
  writeback: EarlyWriteback,
  body: AsyncIterable<Uint8Array>,
  options: AtomicWriteOptions,
) {
  const { signal, display, onProgress } = options;
  const iterator = body[Symbol.asyncIterator]();
  // a marked body's chunks are ours: each is freed once written
  const transient = isTransient(body);
  let bytes = 0;
  let drained = false;
  try {
    for (;;) {
      throwIfAborted(signal, `put ${display}`);
      let next: IteratorResult<Uint8Array>;
      try {
        next = await nextOrAbort(iterator, signal, display);
      } catch (error) {
        // The body is the caller's: its own errors pass through untouched, except that an
        // AbortError (ours, or the body's reaction to the same signal) always reads ABORTED.
        if (signal?.aborted || isAbortError(error)) {
          throw VsnapError.is(error, "ABORTED")
            ? error
            : new VsnapError("ABORTED", `put ${display}: aborted`, { cause: error });
        }
        drained = true;
        throw error;
      }
      if (next.done) {
        drained = true;
        break;
      }
      const chunk = next.value;
      if (!(chunk instanceof Uint8Array)) {
        throw new VsnapError("INVALID_ARGUMENT", `put ${display}: the body must yield Uint8Array chunks`);
      }
      if (chunk.byteLength === 0) continue;
      await writeFully(handle, chunk).catch((error: unknown) => {
        throw fsError(error, "cannot write", display);
      });
      bytes += chunk.byteLength;
      writeback.written(chunk.byteLength);
      if (transient) releaseView(chunk);
      onProgress?.({ bytes });
    }
  } finally {
    // Release a producer we stopped early; not awaited, since a stalled producer never answers.
    if (!drained) iterator.return?.().catch(() => {});
  }
  if (bytes === 0) onProgress?.({ bytes });
  return bytes;
}

/** The body's next chunk, or ABORTED as soon as the signal fires, even while the producer stalls. */
function nextOrAbort<T>(
  iterator: AsyncIterator<T>,
  signal: AbortSignal | undefined,
  display: string,
): Promise<IteratorResult<T>> {
  if (!signal) return iterator.next();
  return new Promise((resolve, reject) => {
    const onAbort = () =>
      reject(new VsnapError("ABORTED", `put ${display}: aborted`, { cause: signal.reason }));
    signal.addEventListener("abort", onAbort, { once: true });
    iterator.next().then(
      (result) => {
        signal.removeEventListener("abort", onAbort);
        resolve(result);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * Makes the rename durable. The snapshot is already committed and visible here, so a failure is
 * logged rather than thrown: rejecting now would report a put as failed whose object exists.
 */
export async function syncDirectory(directory: string, log?: (message: string) => void): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, "r");
    await handle.sync();
  } catch (error) {
    const errno = errnoOf(error);
    // Some file systems cannot fsync a directory at all; that is not worth a word.
    if (errno !== "EINVAL" && errno !== "ENOTSUP" && errno !== "EISDIR") {
      log?.(`could not fsync directory ${directory} after writing a snapshot: ${String(errno ?? error)}`);
    }
  } finally {
    await handle?.close().catch(() => {});
  }
}
