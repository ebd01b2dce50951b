/**
 * Failed agent logins allowed per target within a sliding minute. In-process: each replica
 * limits on its own, which still bounds guessing to replicas × limit per minute against a
 * 256-bit secret. Memory is bounded: a key keeps at most `maxFailures` timestamps, and at most
 * `maxKeys` keys are kept (the least recently failed go first). Callers only record failures of
 * targets that exist, so made-up ids never get here.
 */
export class LoginRateLimiter {
  /** Insertion order is recency order: a key is re-inserted on every failure. */
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  /** Seconds until the next attempt is allowed, or 0. */
  retryAfter(key: string, now = Date.now()): number {
    const recent = this.recent(key, now);
    if (recent.length < this.maxFailures) return 0;
    return Math.ceil((recent[0]! + this.windowMs - now) / 1000);
  }

  recordFailure(key: string, now = Date.now()): void {
    const recent = this.recent(key, now);
    recent.push(now);
    if (recent.length > this.maxFailures) recent.splice(0, recent.length - this.maxFailures);
    this.failures.delete(key);
    this.failures.set(key, recent);
    while (this.failures.size > this.maxKeys) this.failures.delete(this.failures.keys().next().value!);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  /** Keys held now (for tests and diagnostics). */
  get size(): number {
    return this.failures.size;
  }

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length === 0) this.failures.delete(key);
    return list;
  }
}
