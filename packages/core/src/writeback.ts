import { type FileHandle, open } from "node:fs/promises";

/** What `EarlyWriteback` needs of a file: a `FileHandle`, or anything that syncs like one. */
export interface SyncableFile {
  datasync(): Promise<void>;
  sync(): Promise<void>;
}

/** How many bytes a file grows by between two early flushes, unless told otherwise. */
export const EARLY_WRITEBACK_BYTES = 32 * 1024 * 1024;

/**
 * Flushes a file to disk while it is being written, so that the fsync that makes it durable at
 * the end finds little left to do. Linux keeps written pages dirty until that fsync when memory is
 * ample (24 GiB here: a 3 GiB restore never reaches the background writeback threshold), and the
 * process then waits the whole writeback out with its CPUs idle. Flushed in the background, the
 * writing overlaps the work that produces the data (docs/benchmarks.md). One flush at a time, on
 * libuv's pool; a failed one is reported by `sync`, never lost.
 */
export class EarlyWriteback {
  readonly #file: SyncableFile;
  readonly #every: number;
  readonly #owned: FileHandle | undefined;
  #unflushed = 0;
  #inFlight: Promise<void> | undefined;
  #failure: unknown;

  constructor(file: SyncableFile, every = EARLY_WRITEBACK_BYTES, owned?: FileHandle) {
    this.#file = file;
    this.#every = every;
    this.#owned = owned;
  }

  /**
   * For a file that another thread or library writes (SQLite's): a handle of its own, which
   * syncs the file's pages whoever wrote them. `close` closes it.
   */
  static async forPath(file: string, every = EARLY_WRITEBACK_BYTES): Promise<EarlyWriteback> {
    const handle = await open(file, "r+");
    return new EarlyWriteback(handle, every, handle);
  }

  /** Counts `bytes` more written; starts a flush once `every` bytes wait and none is running. */
  written(bytes: number): void {
    this.#unflushed += bytes;
    if (this.#unflushed < this.#every || this.#inFlight || this.#failure !== undefined) return;
    this.#unflushed = 0;
    this.#inFlight = this.#file.datasync().then(
      () => {
        this.#inFlight = undefined;
      },
      (error: unknown) => {
        this.#inFlight = undefined;
        this.#failure ??= error;
      },
    );
  }

  /** Waits for a running flush, then fsyncs the file whole (data and metadata). */
  async sync(): Promise<void> {
    await this.#inFlight;
    if (this.#failure !== undefined) throw this.#failure;
    await this.#file.sync();
  }

  /** Waits for a running flush (its failure no longer matters) and closes the handle opened here. */
  async close(): Promise<void> {
    await this.#inFlight;
    await this.#owned?.close();
  }
}

/** Writes all of `chunk` at the handle's position: a write may take only part of it. */
export async function writeFully(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}
