import type { Store } from "@vsnap/core";
import { throwIfAborted } from "@vsnap/core";

/**
 * A store whose uploads are paced to `bytesPerSecond` (a token bucket with one second of burst):
 * a snapshot must not starve the vCluster's own traffic on a shared link.
 */
export function throttleStore(store: Store, bytesPerSecond: number): Store {
  if (!(bytesPerSecond > 0)) return store;
  return {
    get location() {
      return store.location;
    },
    put: (key, body, options) => store.put(key, paced(body, bytesPerSecond, options?.signal), options),
    get: (key, options) => store.get(key, options),
    stat: (key, options) => store.stat(key, options),
    list: (prefix, options) => store.list(prefix, options),
    delete: (key, options) => store.delete(key, options),
    close: () => store.close(),
  };
}

async function* paced(
  body: AsyncIterable<Uint8Array>,
  rate: number,
  signal?: AbortSignal,
): AsyncIterable<Uint8Array> {
  const started = Date.now();
  let sent = 0;
  // small slices so the pace is smooth even when the archive writer yields large chunks
  const slice = Math.max(1024, Math.floor(rate / 10));
  for await (const chunk of body) {
    for (let at = 0; at < chunk.length; at += slice) {
      const part = chunk.subarray(at, Math.min(chunk.length, at + slice));
      const due = started + ((sent + part.length - rate) / rate) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait, signal);
      throwIfAborted(signal, "upload");
      sent += part.length;
      yield part;
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
