import type { Readable } from "node:stream";

/**
 * A readable's chunks one by one, as its producer pushed them, with up to `ahead` bytes read
 * ahead of the consumer. Not the stream's own async iterator: that reads in paused mode, where
 * `read()` joins every buffered chunk into a new buffer, a copy of all the read-ahead (and gunzip's
 * output buffers, which the archive reader frees once read, were then never seen). In flowing mode
 * each chunk arrives as pushed; the stream is paused while `ahead` bytes wait.
 */
export function pushedChunks(stream: Readable, ahead: number): AsyncIterator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const woken = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  stream.on("data", (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= ahead) stream.pause();
    woken();
  });
  stream.once("end", () => {
    ended = true;
    woken();
  });
  stream.once("error", (error: unknown) => {
    failure ??= error;
    woken();
  });
  stream.once("close", () => {
    if (!ended)
      failure ??= Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
    woken();
  });
  return {
    async next(): Promise<IteratorResult<Buffer>> {
      for (;;) {
        const chunk = queue.shift();
        if (chunk) {
          queued -= chunk.length;
          if (queued < ahead && stream.isPaused()) stream.resume();
          return { value: chunk, done: false };
        }
        if (failure !== undefined) throw failure;
        if (ended) return { value: undefined, done: true };
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
  };
}
