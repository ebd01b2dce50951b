import type { EntityManager } from '@mikro-orm/postgresql';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../logger.js';
import { AgentCloseCode } from '../../protocol/index.js';
import { ApiKey } from './entities.js';

/** setTimeout's longest delay; a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface TrackedSocket {
  apiKeyId: string;
  close: (code: number, reason: string) => void;
  timer: NodeJS.Timeout | null;
}

/**
 * This process's websockets opened with a vendor API key. A revocation (announced on the change
 * bus by whichever replica committed it) closes the key's sockets here at once; an expiry closes
 * them when it passes; after the bus reconnects (a revocation may have been missed) every key
 * with an open socket is checked again. Each operation on such a socket is also re-authorized
 * against the key's current state (see app.ts), so nothing depends on these events alone.
 */
export class VendorSockets {
  private readonly sockets = new Set<TrackedSocket>();

  constructor(
    private readonly rootEm: EntityManager,
    bus: EventBus,
    private readonly logger: Logger,
  ) {
    bus.on('apiKeyRevoked', ({ apiKeyId }) => this.closeKey(apiKeyId, 'API key revoked'));
    bus.on('targetsChanged', ({ targetIds }) => void (targetIds.includes('*') && this.recheck()));
  }

  /** Track a socket until the returned function is called (on close). */
  track(apiKeyId: string, expiresAt: Date | null, close: (code: number, reason: string) => void): () => void {
    const tracked: TrackedSocket = { apiKeyId, close, timer: null };
    this.sockets.add(tracked);
    if (expiresAt) this.armExpiry(tracked, expiresAt);
    return () => {
      if (tracked.timer) clearTimeout(tracked.timer);
      this.sockets.delete(tracked);
    };
  }

  get size(): number {
    return this.sockets.size;
  }

  private armExpiry(tracked: TrackedSocket, expiresAt: Date): void {
    const delay = expiresAt.getTime() - Date.now();
    if (delay <= 0) {
      this.end(tracked, 'API key expired');
      return;
    }
    tracked.timer = setTimeout(() => this.armExpiry(tracked, expiresAt), Math.min(delay, MAX_TIMER_MS));
    tracked.timer.unref();
  }

  private closeKey(apiKeyId: string, reason: string): void {
    for (const tracked of [...this.sockets]) if (tracked.apiKeyId === apiKeyId) this.end(tracked, reason);
  }

  private end(tracked: TrackedSocket, reason: string): void {
    if (tracked.timer) clearTimeout(tracked.timer);
    this.sockets.delete(tracked);
    tracked.close(AgentCloseCode.Unauthorized, reason);
  }

  private async recheck(): Promise<void> {
    const ids = [...new Set([...this.sockets].map((s) => s.apiKeyId))];
    if (ids.length === 0) return;
    try {
      const keys = await this.rootEm.fork().find(ApiKey, { id: { $in: ids } }, { fields: ['id', 'revokedAt', 'expiresAt'] });
      const valid = new Set(keys.filter((k) => !k.revokedAt && !(k.expiresAt && k.expiresAt <= new Date())).map((k) => k.id));
      for (const id of ids) if (!valid.has(id)) this.closeKey(id, 'API key revoked or expired');
    } catch (err) {
      this.logger.warn({ err }, 're-checking API keys of open sockets after a bus reconnect failed');
    }
  }
}
