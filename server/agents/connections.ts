import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { AgentCloseCode } from '../../protocol/index.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../logger.js';
import { readGenerations } from '../auth/principal.js';
import { AgentConnection, DeploymentTarget } from '../targets/entities.js';

/** Stale connection rows (of crashed replicas) are deleted after this. */
const STALE_ROW_RETENTION_MS = 10 * 60_000;

interface LocalConnection {
  id: string;
  targetId: string;
  organizationId: string;
  generation: number;
  close: (code: number, reason: string) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}
interface PendingOpen extends Waiter {
  id: string;
  conn: Omit<LocalConnection, 'id'>;
  at: Date;
}
interface PendingClose extends Waiter {
  id: string;
  conn: LocalConnection;
}

/** Most connection rows written in one transaction. */
const BATCH = 1000;

async function settle(waiters: Waiter[], work: () => Promise<void>): Promise<void> {
  try {
    await work();
    for (const w of waiters) w.resolve();
  } catch (err) {
    for (const w of waiters) w.reject(err as Error);
  }
}

/**
 * This process's open agent sockets. Each is mirrored by an agent_connection row that this
 * process heartbeats in one statement per interval, so "connected" is true across replicas and
 * goes stale by itself if a replica dies.
 */
export class AgentConnections {
  private readonly local = new Map<string, LocalConnection>();

  /** Agent sockets open on this process. */
  get localCount(): number {
    return this.local.size;
  }
  private readonly openings = new Map<string, Promise<void>>();
  private pendingOpens: PendingOpen[] = [];
  private pendingCloses: PendingClose[] = [];
  private flushScheduled = false;
  private flushing = false;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly rootEm: EntityManager,
    private readonly bus: EventBus,
    private readonly instanceId: string,
    private readonly logger: Logger,
    heartbeatSeconds = 15,
  ) {
    this.heartbeat = setInterval(() => void this.beat(), heartbeatSeconds * 1000);
    this.heartbeat.unref();
    bus.on('credentialRotated', ({ targetId, generation }) => this.closeOlderThan(targetId, generation));
    // The bus reconnected ('*'): a rotation may have been missed meanwhile, so compare every local
    // socket's generation with the database once.
    bus.on('targetsChanged', ({ targetIds }) => void (targetIds.includes('*') && this.recheckGenerations()));
  }

  private async recheckGenerations(): Promise<void> {
    const targetIds = [...new Set([...this.local.values()].map((c) => c.targetId))];
    if (targetIds.length === 0) return;
    try {
      const current = await readGenerations(this.rootEm, targetIds);
      for (const id of targetIds) this.closeOlderThan(id, current.get(id) ?? Number.MAX_SAFE_INTEGER);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 're-checking agent credentials after a bus reconnect failed');
    }
  }

  /**
   * Register an authenticated socket; resolves with its id for `closed` once its row is stored.
   * Sockets opening (or closing) together are written in one transaction: a hub restart brings
   * thousands of agents back within seconds, and one transaction per socket would queue them up.
   */
  async opened(conn: Omit<LocalConnection, 'id'>): Promise<string> {
    const id = randomUUID();
    this.local.set(id, { ...conn, id });
    const stored = new Promise<void>((resolve, reject) => this.pendingOpens.push({ id, conn, at: new Date(), resolve, reject }));
    this.openings.set(id, stored);
    this.scheduleFlush();
    try {
      await stored;
    } catch (err) {
      this.local.delete(id);
      throw err;
    } finally {
      this.openings.delete(id);
    }
    return id;
  }

  async closed(id: string): Promise<void> {
    const conn = this.local.get(id);
    if (!conn) return;
    this.local.delete(id);
    await this.openings.get(id)?.catch(() => {}); // its row must exist before it is removed
    await new Promise<void>((resolve, reject) => {
      this.pendingCloses.push({ id, conn, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pendingOpens.length > 0 || this.pendingCloses.length > 0) {
        const opens = this.pendingOpens.splice(0, BATCH);
        if (opens.length > 0) await settle(opens, () => this.storeOpens(opens));
        const closes = this.pendingCloses.splice(0, BATCH);
        if (closes.length > 0) await settle(closes, () => this.storeCloses(closes));
      }
    } finally {
      this.flushing = false;
    }
  }

  private async storeOpens(opens: PendingOpen[]): Promise<void> {
    await this.rootEm.fork().transactional(async (em) => {
      const meta = em.getMetadata(AgentConnection);
      await em.execute(
        `insert into ${meta.tableName} (id, target_id, hub_instance, connected_at, heartbeat_at) values ${opens.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
        opens.flatMap((o) => [o.id, o.conn.targetId, this.instanceId, o.at, o.at]),
      );
      await em.nativeUpdate(DeploymentTarget, { id: { $in: [...new Set(opens.map((o) => o.conn.targetId))] } }, { lastSeenAt: new Date() });
      await this.bus.publishMany(
        em,
        'livenessChanged',
        opens.map((o) => ({ organizationId: o.conn.organizationId, targetId: o.conn.targetId, connected: true })),
      );
    });
  }

  private async storeCloses(closes: PendingClose[]): Promise<void> {
    await this.rootEm.fork().transactional(async (em) => {
      await em.nativeDelete(AgentConnection, { id: { $in: closes.map((c) => c.id) } });
      const targetIds = [...new Set(closes.map((c) => c.conn.targetId))];
      await em.nativeUpdate(DeploymentTarget, { id: { $in: targetIds } }, { lastSeenAt: new Date() });
      const remaining: { target_id: string }[] = await em.execute(
        `select distinct target_id from ${em.getMetadata(AgentConnection).tableName} where target_id in (?)`,
        [targetIds],
      );
      const stillConnected = new Set(remaining.map((r) => r.target_id));
      const organizationOf = new Map(closes.map((c) => [c.conn.targetId, c.conn.organizationId]));
      await this.bus.publishMany(
        em,
        'livenessChanged',
        targetIds.map((targetId) => ({ organizationId: organizationOf.get(targetId)!, targetId, connected: stillConnected.has(targetId) })),
      );
    });
  }

  /** Sockets of a target whose token predates a rotation are closed at once. */
  private closeOlderThan(targetId: string, generation: number): void {
    for (const conn of this.local.values()) {
      if (conn.targetId === targetId && conn.generation < generation) conn.close(AgentCloseCode.Forbidden, 'agent credential was rotated');
    }
  }

  private async beat(): Promise<void> {
    try {
      const now = new Date();
      const em = this.rootEm.fork();
      // Rows of replicas that died without cleaning up: long stale, they only take space.
      await em.nativeDelete(AgentConnection, { heartbeatAt: { $lt: new Date(now.getTime() - STALE_ROW_RETENTION_MS) } });
      if (this.local.size === 0) return;
      await em.nativeUpdate(AgentConnection, { hubInstance: this.instanceId }, { heartbeatAt: now });
      const targetIds = [...new Set([...this.local.values()].map((c) => c.targetId))];
      await em.nativeUpdate(DeploymentTarget, { id: { $in: targetIds } }, { lastSeenAt: now });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'agent connection heartbeat failed');
    }
  }

  /** On shutdown: remove this process's rows so targets show disconnected at once. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const conns = [...this.local.values()];
    this.local.clear();
    try {
      await this.rootEm.fork().nativeDelete(AgentConnection, { hubInstance: this.instanceId });
      if (conns.length > 0) {
        await this.rootEm.fork().nativeUpdate(DeploymentTarget, { id: { $in: conns.map((c) => c.targetId) } }, { lastSeenAt: new Date() });
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not clear agent connections on shutdown');
    }
  }
}
