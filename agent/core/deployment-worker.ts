import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { DeploymentDriver } from './driver.js';
import { PermanentApplyError } from './driver.js';
import type { DesiredDeployment, StatusReport } from '../../protocol/index.js';
import type { StateStore } from './state-store.js';
import { backoffDelay, sleep, untilAborted } from './backoff.js';

/** Hash of what the runtime runs: an unchanged spec is not applied again (revision ids aside). */
export function specHash(d: DesiredDeployment): string {
  const spec =
    d.type === 'docker'
      ? { type: d.type, composeType: d.composeType, projectName: d.projectName, composeFile: d.composeFile, envFile: d.envFile }
      : { type: d.type, releaseName: d.releaseName, namespace: d.namespace, chart: d.chart, values: d.values, options: d.options };
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

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
 * replaces a queued one and cancels a running apply or a retry wait.
 */
export class DeploymentWorker {
  private desired: DesiredDeployment;
  private wake: AbortController = new AbortController();
  private applying: AbortController | null = null;
  private stopped = false;
  private failures = 0;
  /** Spec hash that failed permanently: not retried until the spec changes. */
  private permanentFailure: string | null = null;
  /** Whether the runtime is believed to match `desired` (safe to observe). */
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
    const changed = specHash(next) !== specHash(this.desired) || next.restartMarker !== this.desired.restartMarker || next.revisionId !== this.desired.revisionId;
    this.desired = next;
    if (!changed) return;
    if (this.applying && specHash(next) !== this.applyingHash) this.applying.abort(new Error('superseded by a newer desired state'));
    this.wake.abort();
  }

  private applyingHash: string | null = null;

  stop(): void {
    this.stopped = true;
    this.applying?.abort(new Error('agent stopping'));
    this.wake.abort();
  }

  private async loop(): Promise<void> {
    const log = this.deps.logger;
    while (!this.stopped) {
      this.wake = new AbortController();
      const d = this.desired;
      const hash = specHash(d);
      const record = this.deps.store.get(d.deploymentId);
      const needsApply = record?.specHash !== hash;
      let retryIn: number | null = null;
      if (needsApply && this.permanentFailure !== hash) {
        this.converged = false;
        this.deps.report({ deploymentId: d.deploymentId, revisionId: d.revisionId, phase: 'progressing', message: `applying ${d.applicationName} ${d.versionName}` });
        this.applying = new AbortController();
        this.applyingHash = hash;
        try {
          await this.deps.driver.apply(d, { signal: this.applying.signal });
          await this.deps.store.set(d.deploymentId, { revisionId: d.revisionId, specHash: hash, restartMarker: record?.restartMarker ?? null });
          this.failures = 0;
          this.permanentFailure = null;
          log.info({ deployment: d.deploymentId, revision: d.revisionId }, 'applied');
        } catch (err) {
          const superseded = this.applying.signal.aborted;
          this.applying = null;
          if (this.stopped) return;
          if (superseded) continue;
          const message = (err as Error).message;
          const permanent = err instanceof PermanentApplyError;
          if (permanent) this.permanentFailure = hash;
          else retryIn = backoffDelay(this.failures++, this.deps.retryBaseMs, this.deps.retryMaxMs);
          // The decision is in the log line (retryInMs null: waits for a new revision), so an operator — and a test — sees it at once.
          log.warn({ deployment: d.deploymentId, err: message, permanent, retryInMs: retryIn }, 'apply failed');
          this.deps.report({ deploymentId: d.deploymentId, revisionId: d.revisionId, phase: 'error', message });
        }
        this.applying = null;
        this.applyingHash = null;
      } else if (!needsApply && record && record.revisionId !== d.revisionId) {
        // Same content under a new revision (e.g. a force restart): nothing to apply, just record it.
        await this.deps.store.set(d.deploymentId, { ...record, revisionId: d.revisionId });
      }
      const applied = this.deps.store.get(d.deploymentId);
      if (applied?.specHash === hash) {
        if (d.restartMarker && d.restartMarker !== applied.restartMarker) {
          try {
            await this.deps.driver.restart(d, { signal: new AbortController().signal });
            await this.deps.store.set(d.deploymentId, { ...applied, restartMarker: d.restartMarker });
            log.info({ deployment: d.deploymentId, marker: d.restartMarker }, 'restarted');
          } catch (err) {
            this.deps.report({ deploymentId: d.deploymentId, revisionId: d.revisionId, phase: 'error', message: `restart failed: ${(err as Error).message}` });
            retryIn ??= backoffDelay(this.failures++, this.deps.retryBaseMs, this.deps.retryMaxMs);
          }
        }
        this.converged = true;
        this.deps.converged(this);
      }
      if (this.stopped) return;
      // Wait for a newer desired state, or the retry time.
      if (retryIn !== null) await sleep(retryIn, this.wake.signal);
      else await untilAborted(this.wake.signal);
    }
  }
}
