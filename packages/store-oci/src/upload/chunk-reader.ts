import { isTransient, releaseView, VsnapError } from "@vsnap/core";

/**
 * Cuts an async byte stream into buffers of a requested size (shorter only at the end), and can
 * tell whether the stream has ended without consuming anything: the uploader needs that to send
 * the last chunk with the closing PUT. Holds at most one source piece beyond the chunk it returns.
 */
export class ChunkReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  readonly #signal: AbortSignal | undefined;
  #pending: Uint8Array | undefined;
  #buffer: Buffer | undefined;
  #done = false;
  readonly #transient: boolean;

  constructor(source: AsyncIterable<Uint8Array>, signal?: AbortSignal) {
    this.#iterator = source[Symbol.asyncIterator]();
    this.#signal = signal;
    // a marked source's pieces are ours: each is freed once copied
    this.#transient = isTransient(source);
  }

  /**
   * Up to `size` bytes; fewer only when the stream ends. The buffer is reused: it is valid until the
   * next `read` (every caller sends or writes a chunk before reading the next), which keeps memory
   * flat without waiting for the garbage collector to notice external memory.
   */
  async read(size: number): Promise<Buffer> {
    if (!this.#buffer || this.#buffer.length !== size) this.#buffer = Buffer.allocUnsafe(size);
    const out = this.#buffer;
    let filled = 0;
    while (filled < size) {
      if (!this.#pending?.length && !(await this.#pull())) break;
      const piece = this.#pending!;
      const n = Math.min(piece.length, size - filled);
      out.set(n === piece.length ? piece : piece.subarray(0, n), filled);
      filled += n;
      this.#pending = n === piece.length ? undefined : piece.subarray(n);
      if (n === piece.length && this.#transient) releaseView(piece);
    }
    return filled === size ? out : out.subarray(0, filled);
  }

  async atEnd(): Promise<boolean> {
    if (this.#pending?.length) return false;
    return !(await this.#pull());
  }

  /**
   * Stops the source (a generator's `finally` runs) when the upload ends early. Not awaited: a
   * generator stuck in an `await` queues `return()` behind that await, possibly forever.
   */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#pending = undefined;
    this.#iterator.return?.()?.catch(() => {});
  }

  async #pull(): Promise<boolean> {
    while (!this.#done) {
      const result = await this.#next();
      if (result.done) {
        this.#done = true;
        return false;
      }
      const value = result.value;
      if (!(value instanceof Uint8Array)) {
        throw new VsnapError("INVALID_ARGUMENT", "snapshot body must yield Uint8Array chunks");
      }
      if (value.length) {
        this.#pending = value;
        return true;
      }
    }
    return false;
  }

  // a stalled producer must not outlive an abort
  #next(): Promise<IteratorResult<Uint8Array>> {
    const signal = this.#signal;
    if (!signal) return this.#iterator.next();
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new VsnapError("ABORTED", "upload aborted", { cause: signal.reason }));
      signal.addEventListener("abort", onAbort, { once: true });
      this.#iterator.next().then(
        (r) => {
          signal.removeEventListener("abort", onAbort);
          resolve(r);
        },
        (e: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      );
    });
  }
}
