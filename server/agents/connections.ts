import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../logger.js';
import { AgentConnection, DeploymentTarget } from '../targets/entities.js';

interface LocalConnection {
  id: string;
  targetId: string;
  organizationId: string;
  generation: number;
  close: (code: number, reason: string) => void;
}

/**
 * This process's open agent sockets. Each is mirrored by an agent_connection row that this
 * process heartbeats in one statement per interval, so "connected" is true across replicas and
 * goes stale by itself if a replica dies.
 */
export class AgentConnections {
  private readonly local = new Map<string, LocalConnection>();
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
  }

  /** Register an authenticated socket; returns its id for `closed`. */
  async opened(conn: Omit<LocalConnection, 'id'>): Promise<string> {
    const id = randomUUID();
    this.local.set(id, { ...conn, id });
    const now = new Date();
    await this.rootEm.fork().transactional(async (em) => {
      em.create(AgentConnection, { id, target: conn.targetId, hubInstance: this.instanceId, connectedAt: now, heartbeatAt: now });
      await em.nativeUpdate(DeploymentTarget, { id: conn.targetId }, { lastSeenAt: now });
      await em.flush();
      await this.bus.publish(em, 'livenessChanged', { organizationId: conn.organizationId, targetId: conn.targetId, connected: true });
    });
    return id;
  }

  async closed(id: string): Promise<void> {
    const conn = this.local.get(id);
    if (!conn) return;
    this.local.delete(id);
    await this.rootEm.fork().transactional(async (em) => {
      await em.nativeDelete(AgentConnection, { id });
      await em.nativeUpdate(DeploymentTarget, { id: conn.targetId }, { lastSeenAt: new Date() });
      const remaining = await em.count(AgentConnection, { target: conn.targetId });
      await this.bus.publish(em, 'livenessChanged', { organizationId: conn.organizationId, targetId: conn.targetId, connected: remaining > 0 });
    });
  }

  /** Sockets of a target whose token predates a rotation are closed at once. */
  private closeOlderThan(targetId: string, generation: number): void {
    for (const conn of this.local.values()) {
      if (conn.targetId === targetId && conn.generation < generation) conn.close(4403, 'agent credential was rotated');
    }
  }

  countLocal(): number {
    return this.local.size;
  }

  private async beat(): Promise<void> {
    if (this.local.size === 0) return;
    try {
      const now = new Date();
      const em = this.rootEm.fork();
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
