import type { EntityManager } from '@mikro-orm/postgresql';
import { createHash } from 'node:crypto';
import type { WireDesiredState as DesiredState } from '../../protocol/index.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../logger.js';
import { PushChannel } from './channel.js';
import { loadDesiredStates } from './desired-state.js';
import type { Keyring } from '../secrets/encryption.js';
import type { HubMetrics } from '../metrics/metrics.js';

/** Most targets loaded in one batch of queries when many change at once. */
const LOAD_BATCH = 500;

/**
 * Per-process fan-out of desired state. A burst of notifications is coalesced: each touched
 * target with local subscribers is loaded once, then pushed to all of them.
 */
export class DesiredStateFanout {
  private readonly subscribers = new Map<string, Set<PushChannel<DesiredState>>>();
  private readonly pending = new Set<string>();
  private flushing = false;
  private scheduled = false;
  /** Fingerprint of the state each subscriber last got: an unchanged state is not sent again. */
  private readonly lastSent = new WeakMap<PushChannel<DesiredState>, string>();
  /** When the first not-yet-pushed committed change of a target arrived (for the push latency metric). */
  private readonly changedSince = new Map<string, number>();

  constructor(
    private readonly rootEm: EntityManager,
    bus: EventBus,
    private readonly logger: Logger,
    private readonly keyring: Keyring,
    private readonly metrics?: HubMetrics,
  ) {
    bus.on('targetsChanged', ({ targetIds }) => {
      const ids = targetIds.includes('*') ? [...this.subscribers.keys()] : targetIds;
      const now = performance.now();
      for (const id of ids) {
        if (!this.subscribers.has(id)) continue;
        this.pending.add(id);
        if (!this.changedSince.has(id)) this.changedSince.set(id, now);
      }
      this.schedule();
    });
  }

  /** Subscribe to a target's desired state: the current one first, then one per committed change. */
  subscribe(targetId: string): PushChannel<DesiredState> {
    let set = this.subscribers.get(targetId);
    if (!set) this.subscribers.set(targetId, (set = new Set()));
    const channel: PushChannel<DesiredState> = new PushChannel<DesiredState>({
      latestOnly: true,
      onClose: () => {
        set.delete(channel);
        if (set.size === 0) this.subscribers.delete(targetId);
      },
    });
    set.add(channel);
    // The first state is loaded after registering, so a change committed meanwhile is not lost.
    this.pending.add(targetId);
    this.schedule();
    return channel;
  }

  private schedule(): void {
    if (this.scheduled || this.pending.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return; // the running flush picks up what arrived meanwhile
    this.flushing = true;
    try {
      while (this.pending.size > 0) {
        const batch = [...this.pending].slice(0, LOAD_BATCH);
        for (const id of batch) this.pending.delete(id);
        try {
          const states = await loadDesiredStates(this.rootEm.fork(), batch, this.keyring);
          for (const id of batch) {
            const state = states.get(id);
            const subs = this.subscribers.get(id);
            const since = this.changedSince.get(id);
            this.changedSince.delete(id);
            if (!subs) continue;
            // A late notification of a change the first state already held would repeat it.
            const fingerprint = state ? createHash('sha1').update(JSON.stringify(state)).digest('base64') : '';
            for (const channel of subs) {
              if (!state) {
                channel.close(); // the target was deleted
              } else if (this.lastSent.get(channel) !== fingerprint) {
                this.lastSent.set(channel, fingerprint);
                channel.push(state);
                if (since !== undefined && this.metrics) {
                  this.metrics.desiredStatePushes.inc();
                  this.metrics.desiredStatePushSeconds.observe((performance.now() - since) / 1000);
                }
              }
            }
          }
        } catch (err) {
          this.logger.error({ err: (err as Error).message, targets: batch.length }, 'loading desired state failed; retrying');
          for (const id of batch) this.pending.add(id);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
