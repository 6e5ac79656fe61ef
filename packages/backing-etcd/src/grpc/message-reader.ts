import { GrpcError, GrpcStatus } from "./status.js";

/** Larger messages are refused: etcd's own limit is 2 GiB, vsnap's pages are a few MiB. */
export const MAX_MESSAGE_BYTES = 1 << 30;

/**
 * Cuts gRPC's length-prefixed messages out of HTTP/2 DATA chunks. Each message is copied into a
 * buffer of its own, sized from its prefix, as its bytes arrive: chunks are never kept, and the
 * receiver may free a message's memory when done (`releaseView`).
 */
export class MessageReader {
  readonly #prefix = Buffer.alloc(5);
  #prefixHave = 0;
  #message: Buffer | undefined;
  #have = 0;

  /** True between a message's first byte and its last. */
  get partial(): boolean {
    return this.#prefixHave > 0 || this.#message !== undefined;
  }

  push(chunk: Uint8Array, onMessage: (message: Buffer) => void): void {
    let at = 0;
    while (at < chunk.length) {
      if (!this.#message) {
        const n = Math.min(5 - this.#prefixHave, chunk.length - at);
        this.#prefix.set(chunk.subarray(at, at + n), this.#prefixHave);
        this.#prefixHave += n;
        at += n;
        if (this.#prefixHave < 5) return;
        this.#prefixHave = 0;
        if (this.#prefix[0] !== 0) {
          throw new GrpcError(
            GrpcStatus.INTERNAL,
            "the server sent a compressed message, which was not asked for",
          );
        }
        const length = this.#prefix.readUInt32BE(1);
        if (length > MAX_MESSAGE_BYTES) {
          throw new GrpcError(
            GrpcStatus.RESOURCE_EXHAUSTED,
            `the server sent a message of ${length} bytes, more than the ${MAX_MESSAGE_BYTES} accepted`,
          );
        }
        // its own memory (never Node's shared pool), so that it can be freed on its own
        if (length === 0) {
          onMessage(Buffer.alloc(0));
          continue;
        }
        this.#message = Buffer.allocUnsafeSlow(length);
        this.#have = 0;
      }
      const message = this.#message;
      const n = Math.min(message.length - this.#have, chunk.length - at);
      message.set(chunk.subarray(at, at + n), this.#have);
      this.#have += n;
      at += n;
      if (this.#have === message.length) {
        this.#message = undefined;
        onMessage(message);
      }
    }
  }
}
