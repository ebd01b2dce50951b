import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from '../logger.js';

/**
 * The change bus. Writers call `publish(em, …)` inside their transaction; PostgreSQL delivers the
 * NOTIFY only on commit, to every hub process's single LISTEN connection, which hands it to that
 * process's local handlers. This file is the only place that knows the channel name.
 */
export interface BusTopics {
  /** Desired state of these targets changed (deployments created, updated, deleted, restarted). */
  targetsChanged: { targetIds: string[] };
  /** A target's agent credential was rotated: sockets holding an older generation must close. */
  credentialRotated: { targetId: string; generation: number };
  /** A vendor API key was revoked: every replica closes the sockets opened with it. */
  apiKeyRevoked: { apiKeyId: string };
  /** A deployment's observed status changed (a transition was stored). */
  statusChanged: { organizationId: string; targetId: string; deploymentId: string };
  /** An agent connected or disconnected. */
  livenessChanged: { organizationId: string; targetId: string; connected: boolean };
  /** Rollouts were created or acted on (start, pause, …), or targets' windows changed ('*'): the controller re-plans them. */
  rolloutsChanged: { organizationId: string; rolloutIds: string[] };
  /** The rollout controller moved a rollout on (members or state): watchers reload it. */
  rolloutProgressed: { organizationId: string; rolloutId: string };
  /** A runtime preview was requested, answered or expired: watchers reload it. */
  runtimePreviewChanged: { organizationId: string; previewId: string };
  /** Log lines of a deployment were stored, up to row id `lastId` (a bigint as text). */
  logsAppended: { organizationId: string; deploymentId: string; lastId: string };
  /**
   * Local only, never NOTIFYed: this process's LISTEN connection dropped and is back, so any
   * notification committed meanwhile was missed. Subscribers resend their current state.
   */
  busReconnected: { downSince: string };
}
export type Topic = keyof BusTopics;
type Handler<T extends Topic> = (payload: BusTopics[T]) => void;

const CHANNEL = 'distr_events';
/** NOTIFY payloads are limited to 8000 bytes: long id lists are split. */
const MAX_IDS_PER_NOTIFY = 150;
/** Bound on the parameters of one publishing statement. */
const MAX_NOTIFY_PER_STATEMENT = 1000;

export class EventBus {
  private client: pg.Client | null = null;
  private readonly handlers = new Map<Topic, Set<Handler<any>>>();
  private stopped = false;
  private reconnectDelayMs = 100;
  private downSince: Date | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
    private readonly onReconnect: () => void = () => {},
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('notification', (msg) => this.dispatch(msg.payload));
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'event bus connection lost; reconnecting');
      this.scheduleReconnect(client);
    });
    client.on('end', () => this.scheduleReconnect(client));
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
    this.reconnectDelayMs = 100;
  }

  private scheduleReconnect(failed: pg.Client): void {
    if (this.stopped || this.client !== failed) return;
    this.client = null;
    this.downSince ??= new Date();
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, 5000);
    setTimeout(() => {
      if (this.stopped) return;
      this.connect()
        .then(() => {
          const downSince = this.downSince ?? new Date();
          this.downSince = null;
          this.logger.info({ downSince: downSince.toISOString(), downMs: Date.now() - downSince.getTime() }, 'event bus reconnected; resending current state to subscribers');
          this.onReconnect();
          // Changes may have been missed while disconnected: tell every subscriber to reload.
          this.emitLocal('targetsChanged', { targetIds: ['*'] });
          this.emitLocal('busReconnected', { downSince: downSince.toISOString() });
        })
        .catch((err: Error) => {
          this.logger.warn({ err: err.message }, 'event bus reconnect failed');
          this.client = failed;
          this.scheduleReconnect(failed);
        });
    }, delay * (0.5 + Math.random()));
  }

  on<T extends Topic>(topic: T, handler: Handler<T>): () => void {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Announce inside the caller's transaction; delivered to every hub process on commit. */
  async publish<T extends Topic>(em: EntityManager, topic: T, payload: BusTopics[T]): Promise<void> {
    await this.publishMany(em, topic, [payload]);
  }

  /** Several announcements of one topic in one statement (one round trip), delivered in order on commit. */
  async publishMany<T extends Topic>(em: EntityManager, topic: T, payloads: readonly BusTopics[T][]): Promise<void> {
    const messages = payloads.flatMap((p) => split(topic, p)).map((m) => JSON.stringify(m));
    for (let i = 0; i < messages.length; i += MAX_NOTIFY_PER_STATEMENT) {
      const chunk = messages.slice(i, i + MAX_NOTIFY_PER_STATEMENT);
      await em.execute(`select pg_notify(?, m) from unnest(array[?]::text[]) with ordinality as x(m, n) order by n`, [CHANNEL, chunk]);
    }
  }

  /**
   * A SQL expression announcing `topic` with a payload computed by the statement itself (a json
   * expression), for writers that publish from inside one statement, once per row. Delivered on
   * commit, exactly like `publish`. (Not for targetsChanged, whose id lists must be split.)
   */
  static notifySql(topic: Exclude<Topic, 'targetsChanged' | 'busReconnected'>, payloadJson: string): string {
    return `pg_notify('${CHANNEL}', json_build_object('topic', '${topic}', 'payload', ${payloadJson})::text)`;
  }

  private dispatch(raw: string | undefined): void {
    if (!raw) return;
    let message: { topic: Topic; payload: unknown };
    try {
      message = JSON.parse(raw);
    } catch {
      this.logger.warn('event bus: ignoring a malformed notification');
      return;
    }
    this.emitLocal(message.topic, message.payload as never);
  }

  private emitLocal<T extends Topic>(topic: T, payload: BusTopics[T]): void {
    for (const handler of this.handlers.get(topic) ?? []) {
      try {
        handler(payload);
      } catch (err) {
        this.logger.error({ err: (err as Error).message, topic }, 'event handler failed');
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }
}

function split<T extends Topic>(topic: T, payload: BusTopics[T]): { topic: T; payload: BusTopics[T] }[] {
  if (topic !== 'targetsChanged') return [{ topic, payload }];
  const ids = [...new Set((payload as BusTopics['targetsChanged']).targetIds)];
  const out: { topic: T; payload: BusTopics[T] }[] = [];
  for (let i = 0; i < ids.length; i += MAX_IDS_PER_NOTIFY) {
    out.push({ topic, payload: { targetIds: ids.slice(i, i + MAX_IDS_PER_NOTIFY) } as BusTopics[T] });
  }
  return out;
}
