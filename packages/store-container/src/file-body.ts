import type { FileHandle } from "node:fs/promises";
import { throwIfAborted, VsnapError } from "@vsnap/core";
import { fsError } from "./fs-errors.js";

const READ_CHUNK_BYTES = 512 * 1024;

/**
 * The bytes of an already opened file as a one-shot async iterable. Reading from the handle (not
 * the path) means a put that replaces the file meanwhile cannot mix two snapshots into one read.
 * The handle closes when iteration ends, fails, is abandoned with `return()`, or via `release`.
 */
export function fileBody(
  handle: FileHandle,
  display: string,
  signal: AbortSignal | undefined,
  release: () => Promise<void>,
): AsyncIterable<Uint8Array> {
  let started = false;
  return {
    [Symbol.asyncIterator]() {
      if (started) {
        throw new VsnapError("FAILED_PRECONDITION", `the body of ${display} can be read only once`, {
          hint: "call get again to read the snapshot again",
        });
      }
      started = true;
      return read(handle, display, signal, release);
    },
  };
}

async function* read(
  handle: FileHandle,
  display: string,
  signal: AbortSignal | undefined,
  release: () => Promise<void>,
): AsyncGenerator<Uint8Array> {
  try {
    for (;;) {
      throwIfAborted(signal, `get ${display}`);
      // store.close() closes bodies nobody finished reading
      if (handle.fd === -1) {
        throw new VsnapError("FAILED_PRECONDITION", `cannot read ${display}: the store was closed`);
      }
      const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null));
      } catch (error) {
        throw fsError(error, "cannot read", display);
      }
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await release();
  }
}
