/**
 * An async iterator over pushed values for one subscriber. `latestOnly` keeps just the newest
 * pending value (desired state: an older one is worthless once a newer exists); otherwise a
 * bounded queue that drops the oldest when a slow reader falls too far behind.
 */
export class PushChannel<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private done = false;

  constructor(
    private readonly options: { latestOnly: boolean; maxQueue?: number; onClose?: () => void },
  ) {}

  push(value: T): void {
    if (this.done) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value, done: false });
      return;
    }
    if (this.options.latestOnly) this.queue.length = 0;
    this.queue.push(value);
    const max = this.options.maxQueue ?? 1000;
    if (this.queue.length > max) this.queue.shift();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = null;
    this.options.onClose?.();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
