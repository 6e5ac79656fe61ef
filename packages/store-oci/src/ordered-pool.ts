/**
 * Maps `items` through `fn` with at most `concurrency` calls in flight, yielding results in input
 * order. Each result is settled on its own, so one failure does not stop the others.
 */
export async function* mapSettledOrdered<T, R>(
  items: AsyncIterable<T>,
  concurrency: number,
  fn: (item: T) => Promise<R>,
): AsyncIterable<{ item: T } & ({ ok: true; value: R } | { ok: false; error: unknown })> {
  type Settled = { item: T } & ({ ok: true; value: R } | { ok: false; error: unknown });
  const window: Promise<Settled>[] = [];
  const iterator = items[Symbol.asyncIterator]();
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && window.length < concurrency) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const item = next.value;
        window.push(
          fn(item).then(
            (value): Settled => ({ item, ok: true, value }),
            (error: unknown): Settled => ({ item, ok: false, error }),
          ),
        );
      }
      const head = window.shift();
      if (!head) return;
      yield await head;
    }
  } finally {
    if (!exhausted) await iterator.return?.();
  }
}
