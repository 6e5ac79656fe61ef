/**
 * A keyed work queue for simulated controllers: one reconcile at a time (so two events about
 * one object never race), a key queued while pending runs once, and delayed re-queues are
 * cancelled on stop.
 */
export class WorkQueue {
  readonly #pending = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly onError: (key: string, error: unknown) => void,
  ) {}

  add(key: string): void {
    if (this.#stopped || this.#pending.has(key)) return;
    this.#pending.add(key);
    this.#chain = this.#chain.then(async () => {
      this.#pending.delete(key);
      if (this.#stopped) return;
      try {
        await this.work(key);
      } catch (error) {
        this.onError(key, error);
      }
    });
  }

  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.add(key);
    }, ms);
    this.#timers.add(timer);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#chain;
  }
}
