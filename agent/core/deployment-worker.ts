import type { Logger } from 'pino';
import type { DeploymentDriver } from './driver.js';
import type { DesiredDeployment, StatusReport } from '../../protocol/index.js';
import type { StateStore } from './state-store.js';
import { backoffDelay, sleep, untilAborted } from './backoff.js';
import { credentialsHash, failureKey, handleApplyFailure, isNewWork, nextStep, specHash } from './decisions.js';

export { credentialsHash, specHash };

export interface WorkerDeps {
  driver: DeploymentDriver;
  store: StateStore;
  logger: Logger;
  report: (status: StatusReport) => void;
  /** Called when the runtime was just made to match: observe now rather than at the next tick. */
  converged: (worker: DeploymentWorker) => void;
  retryBaseMs: number;
  retryMaxMs: number;
}

/**
 * One deployment's reconcile loop: never two applies of it at once; a newer desired state
 * replaces a queued one and cancels a running apply or a retry wait. What to do next is decided
 * by `nextStep` (decisions.ts); this class only does it.
 */
export class DeploymentWorker {
  private desired: DesiredDeployment;
  private wake: AbortController = new AbortController();
  private applying: AbortController | null = null;
  private applyingHash: string | null = null;
  private stopped = false;
  /** Failed attempts of `failingHash` in a row (transient failures). */
  private failures = 0;
  private failingHash: string | null = null;
  /** `failureKey` (spec and credentials) that failed permanently: not retried until it changes. */
  private permanentFailure: string | null = null;
  /** Credentials hash the runtime last got (applied or refreshed). */
  private credentialsApplied: string | null = null;
  /** Whether the runtime is believed to match `desired` (safe to observe and report). */
  converged = false;
  readonly done: Promise<void>;

  constructor(
    desired: DesiredDeployment,
    private readonly deps: WorkerDeps,
  ) {
    this.desired = desired;
    this.done = this.loop();
  }

  get current(): DesiredDeployment {
    return this.desired;
  }

  update(next: DesiredDeployment): void {
    const changed = isNewWork(this.desired, next);
    this.desired = next;
    if (!changed) return;
    // Until the loop has looked at the new state, what runs is not what it asks for: an
    // observation now would report the old workloads under the new revision (e.g. "healthy" for
    // a force restart that has not happened yet).
    this.converged = false;
    if (this.applying && specHash(next) !== this.applyingHash) this.applying.abort(new Error('superseded by a newer desired state'));
    this.wake.abort();
  }

  stop(): void {
    this.stopped = true;
    this.applying?.abort(new Error('agent stopping'));
    this.wake.abort();
  }

  private report(d: DesiredDeployment, phase: StatusReport['phase'], message: string): void {
    this.deps.report({ deploymentId: d.deploymentId, revisionId: d.revisionId, phase, message });
  }

  private retryDelay(hash: string): number {
    if (this.failingHash !== hash) this.failures = 0;
    this.failingHash = hash;
    return backoffDelay(this.failures++, this.deps.retryBaseMs, this.deps.retryMaxMs);
  }

  private async loop(): Promise<void> {
    const log = this.deps.logger;
    while (!this.stopped) {
      this.wake = new AbortController();
      const d = this.desired;
      const record = this.deps.store.get(d.deploymentId);
      const step = nextStep(d, record, this.permanentFailure);
      let retryIn: number | null = null;
      if (step.kind === 'report-hub-error') {
        // The hub could not render it: say so, leave what runs alone, wait for a new state.
        this.converged = false;
        this.report(d, 'error', step.message);
      } else if (step.kind === 'apply') {
        this.converged = false;
        // Reported once per spec: a transient retry keeps the error status rather than flip
        // between progressing and error (two history rows per retry).
        if (this.failingHash !== step.hash) this.report(d, 'progressing', `applying ${d.applicationName} ${d.versionName}`);
        const applying = (this.applying = new AbortController());
        this.applyingHash = step.hash;
        try {
          await this.deps.driver.apply(d, { signal: applying.signal });
          await this.deps.store.set(d.deploymentId, { revisionId: d.revisionId, specHash: step.hash, restartMarker: record?.restartMarker ?? null });
          this.failures = 0;
          this.failingHash = null;
          this.permanentFailure = null;
          this.credentialsApplied = credentialsHash(d);
          log.info({ deployment: d.deploymentId, revision: d.revisionId }, 'applied');
          this.applying = null;
          this.applyingHash = null;
          continue; // decide again: a restart may be due
        } catch (err) {
          const superseded = applying.signal.aborted;
          this.applying = null;
          this.applyingHash = null;
          if (this.stopped) return;
          if (superseded) continue;
          const message = (err as Error).message;
          const handling = handleApplyFailure(err, this.failures);
          const permanent = handling.kind === 'permanent';
          if (permanent) {
            this.permanentFailure = failureKey(d);
            this.failingHash = null;
          } else {
            retryIn = this.retryDelay(step.hash);
          }
          // The decision is in the log line (retryInMs null: waits for a new revision), so an operator — and a test — sees it at once.
          log.warn({ deployment: d.deploymentId, revision: d.revisionId, err: message, permanent, retryInMs: retryIn }, 'apply failed');
          this.report(d, 'error', message);
        }
      } else if (step.kind === 'record-revision') {
        await this.deps.store.set(d.deploymentId, { ...record!, revisionId: d.revisionId });
        continue;
      } else if (step.kind === 'restart') {
        this.converged = false;
        this.report(d, 'progressing', 'restarting');
        try {
          await this.deps.driver.restart(d, { signal: new AbortController().signal });
          await this.deps.store.set(d.deploymentId, { ...record!, restartMarker: step.marker });
          this.failures = 0;
          this.failingHash = null;
          log.info({ deployment: d.deploymentId, marker: step.marker }, 'restarted');
          continue; // converged now: the next observation reports the restarted workloads
        } catch (err) {
          if (this.stopped) return;
          this.report(d, 'error', `restart failed: ${(err as Error).message}`);
          retryIn = this.retryDelay(`restart:${step.marker}`);
        }
      } else if (step.kind === 'converged') {
        const creds = credentialsHash(d);
        if (this.credentialsApplied !== creds && this.deps.driver.refreshCredentials) {
          // Same spec, new credentials (a rotation): hand them over without redeploying.
          try {
            await this.deps.driver.refreshCredentials(d, { signal: new AbortController().signal });
            this.credentialsApplied = creds;
          } catch (err) {
            if (this.stopped) return;
            this.report(d, 'error', `updating registry credentials failed: ${(err as Error).message}`);
            retryIn = this.retryDelay(`credentials:${creds}`);
          }
        } else {
          this.credentialsApplied = creds;
        }
        if (retryIn === null) {
          this.converged = true;
          this.deps.converged(this);
        }
      }
      // 'wait-for-new-revision' and 'converged' wait for a newer desired state; failures for the retry time too.
      if (this.stopped) return;
      if (retryIn !== null) await sleep(retryIn, this.wake.signal);
      else await untilAborted(this.wake.signal);
    }
  }
}
