/**
 * Marks a stream whose every buffer no one else holds: every chunk of a body (a put's or a get's),
 * or every value of a key/value stream (an archive's keys on their way into a restore target).
 * Whoever reads it may free each one (`releaseView`) as soon as it has written, copied or
 * decompressed it, instead of leaving it to V8's next full collection. A wrapper around the
 * stream drops the mark, which is the safe default. A registered symbol, so that plugins built
 * against another copy of core see the same mark. (The other direction, a reader telling a read
 * point it is done with each entry before the next, is `EntriesOptions.transient`.)
 */
const TRANSIENT = Symbol.for("vsnap.transient");

/** Marks `stream` as yielding transient buffers (see above) and returns it. */
export function markTransient<T extends AsyncIterable<unknown> | Iterable<unknown>>(stream: T): T {
  Object.defineProperty(stream, TRANSIENT, { value: true });
  return stream;
}

/** Whether `stream` was marked by `markTransient`: its buffers may be freed once used. */
export function isTransient(stream: AsyncIterable<unknown> | Iterable<unknown>): boolean {
  return (stream as { [TRANSIENT]?: unknown })[TRANSIENT] === true;
}
