/**
 * Waiting on events, never on the clock: a `Changes` is told when something tests watch may have
 * changed (a log batch arrived, an object was written, a state was pushed); `until(check)`
 * re-evaluates `check` at each such moment and resolves the first time it holds. There is no
 * timer and no deadline of its own: a test that waits for something that never comes is ended by
 * vitest's test timeout, and `pending()` names what it was waiting for.
 */
export class Changes {
  private readonly waiters = new Map<() => void, string>();

  /** Something may have changed: re-check every pending condition. */
  changed(): void {
    for (const recheck of [...this.waiters.keys()]) recheck();
  }

  /** Resolves with check's first truthy value; rejects if check throws. */
  until<T>(check: () => T | false | null | undefined | 0 | '', what = 'a condition'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const recheck = () => {
        try {
          const value = check();
          if (!value) return;
          this.waiters.delete(recheck);
          resolve(value);
        } catch (err) {
          this.waiters.delete(recheck);
          reject(err as Error);
        }
      };
      this.waiters.set(recheck, what);
      recheck();
    });
  }

  /** What is still being waited for (for failure messages). */
  pending(): string[] {
    return [...this.waiters.values()];
  }
}

/** An array that announces each push: `await list.until(() => list.items.some(…))`. */
export class ObservedList<T> extends Changes {
  readonly items: T[] = [];

  push(...values: T[]): void {
    this.items.push(...values);
    this.changed();
  }
}

/**
 * The bound on waits that poll outside state (docker, helm, the hub over HTTP) for which there is
 * no event to wait on: a hang guard far above anything expected on a loaded 2-core machine, never
 * a claim about speed (figures live in bench/ and BENCHMARKS.md). Test timeouts are above it
 * (vitest.config.ts).
 */
export const WAIT_BOUND_MS = 120_000;
