import type { Logger } from 'pino';
import { MAX_STATUS_REPORTS, type StatusReport } from '../../protocol/index.js';
import { sleep, untilAborted } from './backoff.js';
import { deliveredReports, onRefusal } from './decisions.js';
import { describe, HubRefusal, type StatusReportOutcome } from './hub-client.js';

/** What the reporter needs of the hub: one `agentReportStatus` call. */
export type SendReports = (reports: StatusReport[]) => Promise<StatusReportOutcome>;

const keyOf = (r: StatusReport) => `${r.revisionId}|${r.phase}|${r.message}`;
/** Yield to the event loop once: what other deployments report in the same turn joins the batch. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The agent's status reports, batched. Reports are level-triggered: only the newest per
 * deployment matters, so a newer report replaces a queued one, and one equal to what the hub last
 * accepted is not sent at all. Batching needs no timer: the loop sends everything queued in one
 * `agentReportStatus` call (at most MAX_STATUS_REPORTS per call), after letting the current
 * event-loop turn finish (so deployments that change together — one desired state, one sweep of
 * observations — go in one call), and what is queued while a call is in flight goes in the next.
 * A lone report waits for nothing but that one turn.
 */
export class StatusReporter {
  private readonly lastReported = new Map<string, string>();
  private pending = new Map<string, StatusReport>();
  private wake = new AbortController();
  private holds = 0;
  /** Calls sent and reports in them (for /metrics-style counts and tests). */
  readonly sent = { calls: 0, reports: 0 };

  constructor(
    private readonly send: SendReports,
    private readonly logger: Logger,
    private readonly maxPerCall = MAX_STATUS_REPORTS,
  ) {}

  /** Queue a report; only a change from what the hub last accepted is sent. */
  queue(report: StatusReport): void {
    if (this.lastReported.get(report.deploymentId) === keyOf(report) && !this.pending.has(report.deploymentId)) return;
    this.pending.set(report.deploymentId, report);
    this.wake.abort();
  }

  /**
   * Queue what `work` reports and send it together once it is done (a sweep observing every
   * deployment: one call, not one per observation that happens to finish in its own turn).
   */
  async together<T>(work: () => Promise<T>): Promise<T> {
    this.holds++;
    try {
      return await work();
    } finally {
      if (--this.holds === 0) this.wake.abort();
    }
  }

  /** The hub may have lost what it was told (a new connection): say everything once more. */
  forgetDelivered(): void {
    this.lastReported.clear();
  }

  /** Send until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      if (this.pending.size === 0 || this.holds > 0) {
        this.wake = new AbortController();
        await untilAborted(this.wake.signal, signal);
        continue;
      }
      await nextTurn();
      const batch = this.take();
      try {
        this.sent.calls++;
        this.sent.reports += batch.length;
        const outcome = await this.send(batch);
        for (const r of outcome.refused) {
          this.logger.error({ deployment: r.deploymentId, revision: r.revisionId, reason: r.reason }, `hub refused a status report: ${r.message}`);
        }
        // Refused reports are dropped and not marked sent: the next observation reports afresh.
        for (const r of deliveredReports(batch, outcome.refused)) this.lastReported.set(r.deploymentId, keyOf(r));
        failures = 0;
      } catch (err) {
        if (err instanceof HubRefusal) {
          // The same batch would be refused again: drop it (the next observation reports afresh).
          onRefusal(err.refusal);
          this.logger.error({ refusal: err.refusal, reports: batch.length }, `${err.message}; reports dropped`);
          continue;
        }
        // Keep them (unless newer ones arrived) and retry: the hub may be restarting.
        for (const r of batch) if (!this.pending.has(r.deploymentId)) this.pending.set(r.deploymentId, r);
        this.logger.warn({ err: describe(err) }, 'status report failed; retrying');
        await sleep(Math.min(30_000, 500 * 2 ** failures++), signal);
      }
    }
  }

  /** The oldest queued reports, at most one call's worth; the rest stay queued. */
  private take(): StatusReport[] {
    if (this.pending.size <= this.maxPerCall) {
      const all = [...this.pending.values()];
      this.pending = new Map();
      return all;
    }
    const batch: StatusReport[] = [];
    for (const [id, r] of this.pending) {
      if (batch.length === this.maxPerCall) break;
      batch.push(r);
      this.pending.delete(id);
    }
    return batch;
  }
}
