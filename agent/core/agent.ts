import type { Logger } from 'pino';
import type { DeploymentDriver } from './driver.js';
import type { DesiredDeployment, DesiredState, LogLine, StatusReport } from '../../protocol/index.js';
import { MAX_LOG_BATCH, MAX_RESOURCES_PER_REPORT } from '../../protocol/index.js';
import type { HubClient } from './hub-client.js';
import { describe, HubRefusal } from './hub-client.js';
import { onRefusal } from './decisions.js';
import { StatusReporter } from './status-reporter.js';
import { DeploymentWorker } from './deployment-worker.js';
import { StateStore } from './state-store.js';
import { PreviewRunner } from './previews.js';
import { sleep, untilAborted } from './backoff.js';

/** Log lines kept while the hub is unreachable. */
const MAX_QUEUED_LOG_LINES = 10_000;

export interface AgentOptions {
  hub: HubClient;
  driver: DeploymentDriver;
  stateDir: string;
  host: string;
  logger: Logger;
  observeIntervalMs: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

/**
 * The runtime both agents share: takes each desired state from the hub, keeps one worker per
 * deployment, removes what left the state, observes status periodically and reports only
 * transitions, and streams logs where enabled. Level-triggered: only the latest state matters.
 */
export class Agent {
  private readonly workers = new Map<string, DeploymentWorker>();
  private readonly store: StateStore;
  private readonly reporter: StatusReporter;
  private readonly logFollowers = new Map<string, AbortController>();
  private removing = new Set<string>();
  /** Workers stopped because their deployment left the state; removal waits for them. */
  private readonly stopping = new Map<string, Promise<void>>();
  private latest: DesiredState | null = null;
  private reconcileChain: Promise<void> = Promise.resolve();
  private logWatermarks: Map<string, string> | null = null;
  private readonly logQueue: LogLine[] = [];
  private logWake: AbortController = new AbortController();
  private previews: PreviewRunner | null = null;

  constructor(private readonly options: AgentOptions) {
    this.store = new StateStore(options.stateDir);
    this.reporter = new StatusReporter((reports) => options.hub.reportStatus(reports), options.logger);
  }

  /** Run until the signal aborts. */
  async start({ signal }: { signal: AbortSignal }): Promise<void> {
    const log = this.options.logger;
    await this.store.load();
    this.previews = new PreviewRunner({ driver: this.options.driver, hub: this.options.hub, logger: log, signal });
    const reporter = this.reporter.run(signal);
    const observer = this.observeLoop(signal);
    const logShipper = this.logLoop(signal);
    const watcher = this.watchLoop(signal);
    await this.options.hub.subscribeDesiredState(
      (state) => {
        this.latest = state;
        log.info({ deployments: state.deployments.length }, 'desired state received');
        this.reconcileChain = this.reconcileChain.then(() => this.reconcile(state)).catch((err) => log.error({ err: describe(err) }, 'reconcile failed'));
      },
      {
        onConnected: () => {
          log.info('connected to hub');
          // The hub may have lost what we told it: say everything once more.
          this.reporter.forgetDelivered();
          this.logWatermarks = null;
          void this.options.hub.reportInfo(this.options.host).catch((err) => log.warn({ err: describe(err) }, 'reporting agent info failed'));
        },
        onDisconnected: () => log.warn('disconnected from hub'),
      },
      signal,
    );
    for (const w of this.workers.values()) w.stop();
    for (const f of this.logFollowers.values()) f.abort();
    this.logWake.abort();
    await Promise.allSettled([reporter, observer, logShipper, watcher, ...[...this.workers.values()].map((w) => w.done)]);
  }

  private async reconcile(state: DesiredState): Promise<void> {
    if (state !== this.latest) return; // a newer state superseded this one
    const wanted = new Map(state.deployments.map((d) => [d.deploymentId, d]));
    for (const d of state.deployments) {
      const worker = this.workers.get(d.deploymentId);
      if (worker) worker.update(d);
      else this.workers.set(d.deploymentId, this.newWorker(d));
      this.syncLogFollower(d);
    }
    for (const [id, worker] of this.workers) {
      if (wanted.has(id)) continue;
      worker.stop();
      this.stopping.set(id, worker.done);
      this.workers.delete(id);
      this.logFollowers.get(id)?.abort();
      this.logFollowers.delete(id);
    }
    // Runtime previews compare with what runs; they never wait for (or hold up) an apply.
    this.previews?.sync(state.runtimePreviews, (id) => this.workers.get(id)?.current ?? null);
    // Remove what this agent installed and the hub no longer wants (also after an agent restart).
    const managed = await this.options.driver.listManaged();
    for (const id of managed) {
      if (wanted.has(id) || this.removing.has(id)) continue;
      const notice = state.deleted.find((d) => d.deploymentId === id) ?? null;
      this.removing.add(id);
      void (this.stopping.get(id) ?? Promise.resolve())
        .then(() => this.options.driver.remove(id, notice, { signal: new AbortController().signal }))
        .then(() => this.store.set(id, null))
        .then(() => this.options.logger.info({ deployment: id, removeVolumes: notice?.removeVolumes ?? false }, 'removed'))
        .catch((err) => this.options.logger.error({ deployment: id, err: describe(err) }, 'remove failed; will retry on the next state'))
        .finally(() => {
          this.removing.delete(id);
          this.stopping.delete(id);
        });
    }
  }

  private newWorker(d: DesiredDeployment): DeploymentWorker {
    return new DeploymentWorker(d, {
      driver: this.options.driver,
      store: this.store,
      logger: this.options.logger,
      report: (r) => this.queueReport(r),
      converged: (worker) => void this.observe(worker),
      retryBaseMs: this.options.retryBaseMs ?? 1000,
      retryMaxMs: this.options.retryMaxMs ?? 300_000,
    });
  }

  /** Queue a report (batched with what other deployments report meanwhile; only changes are sent). */
  private queueReport(report: StatusReport): void {
    this.reporter.queue(report);
  }

  private async observeLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.options.observeIntervalMs, signal);
      await this.observeAll();
    }
  }

  /** Observe every converged deployment and queue its status (sent only if it changed). */
  async observeAll(): Promise<void> {
    await this.reporter.together(() => Promise.all([...this.workers.values()].map((worker) => this.observe(worker))));
  }

  /**
   * Observe at once when the driver says the runtime changed, besides the periodic tick. No timer:
   * the first event starts an observation right away (a lone `health_status` is reported without
   * delay); events that arrive while it runs (a recreate emits several) cause one more after it.
   */
  private async watchLoop(signal: AbortSignal): Promise<void> {
    const watch = this.options.driver.watch?.bind(this.options.driver);
    if (!watch) return;
    let observing = false;
    let changedMeanwhile = false;
    const onChange = () => {
      if (observing) {
        changedMeanwhile = true;
        return;
      }
      observing = true;
      void (async () => {
        do {
          changedMeanwhile = false;
          await this.observeAll().catch((err) => this.options.logger.warn({ err: describe(err) }, 'observing after a runtime event failed'));
        } while (changedMeanwhile && !signal.aborted);
        observing = false;
      })();
    };
    while (!signal.aborted) {
      try {
        await watch(onChange, signal);
      } catch (err) {
        this.options.logger.debug({ err: describe(err) }, 'runtime event watch ended; restarting');
      }
      await sleep(1000, signal);
    }
  }

  private async observe(worker: DeploymentWorker): Promise<void> {
    if (!worker.converged) return;
    const d = worker.current;
    try {
      const observed = await this.options.driver.observe(d);
      if (!worker.converged || worker.current !== d) return; // changed meanwhile
      // The hub refuses longer lists; the first entries are the ones a person reads.
      const resources = observed.resources.slice(0, MAX_RESOURCES_PER_REPORT);
      this.queueReport({ deploymentId: d.deploymentId, revisionId: d.revisionId, phase: observed.phase, message: observed.message, resources });
    } catch (err) {
      this.queueReport({ deploymentId: d.deploymentId, revisionId: d.revisionId, phase: 'error', message: `observing failed: ${describe(err)}` });
    }
  }

  private syncLogFollower(d: DesiredDeployment): void {
    const running = this.logFollowers.get(d.deploymentId);
    if (!d.logsEnabled || !this.options.driver.followLogs) {
      running?.abort();
      this.logFollowers.delete(d.deploymentId);
      return;
    }
    if (running && !running.signal.aborted) return;
    const controller = new AbortController();
    this.logFollowers.set(d.deploymentId, controller);
    void this.followLogs(d, controller.signal);
  }

  private async followLogs(d: DesiredDeployment, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        this.logWatermarks ??= await this.options.hub.logWatermarks();
        const since = this.logWatermarks.get(d.deploymentId) ?? null;
        await this.options.driver.followLogs!(
          d,
          since,
          (lines) => {
            const newest = lines[lines.length - 1]?.timestamp;
            if (newest) this.logWatermarks?.set(d.deploymentId, newest);
            this.queueLogs(lines);
          },
          signal,
        );
      } catch (err) {
        this.options.logger.warn({ deployment: d.deploymentId, err: describe(err) }, 'log following failed; retrying');
      }
      await sleep(2000, signal);
    }
  }

  /** Lines wait here until the hub takes them; past the cap the oldest are dropped. */
  private queueLogs(lines: LogLine[]): void {
    this.logQueue.push(...lines);
    if (this.logQueue.length > MAX_QUEUED_LOG_LINES) {
      const dropped = this.logQueue.length - MAX_QUEUED_LOG_LINES;
      this.logQueue.splice(0, dropped);
      this.options.logger.warn({ dropped }, 'log queue full: oldest lines dropped');
    }
    this.logWake.abort();
  }

  private async logLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      if (this.logQueue.length === 0) {
        this.logWake = new AbortController();
        await untilAborted(this.logWake.signal, signal);
        continue;
      }
      const batch = this.logQueue.slice(0, MAX_LOG_BATCH);
      try {
        const outcome = await this.options.hub.pushLogs(batch);
        this.logQueue.splice(0, batch.length);
        if (outcome.rejected.length > 0 || outcome.sanitized > 0) {
          const reasons = [...new Set(outcome.rejected.map((r) => r.message))].slice(0, 5);
          this.options.logger.warn({ rejected: outcome.rejected.length, sanitized: outcome.sanitized, reasons }, 'hub stored a log batch only in part');
        }
        failures = 0;
      } catch (err) {
        if (err instanceof HubRefusal) {
          const handling = onRefusal(err.refusal);
          if (handling.stopLogs) {
            // The target's logs were switched off: drop what is queued; the desired state stops the followers.
            const dropped = this.logQueue.length;
            this.logQueue.length = 0;
            this.options.logger.warn({ dropped }, `${err.message}; queued lines dropped`);
          } else {
            this.logQueue.splice(0, batch.length);
            this.options.logger.error({ refusal: err.refusal, dropped: batch.length }, `${err.message}; batch dropped`);
          }
          continue;
        }
        this.options.logger.warn({ err: describe(err), queued: this.logQueue.length }, 'pushing logs failed; retrying');
        await sleep(Math.min(30_000, 500 * 2 ** failures++), signal);
      }
    }
  }
}
