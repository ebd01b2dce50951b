import { AgentCloseCode } from '../../protocol/index.js';
import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, Principal } from '../context.js';
import { DeploymentTarget } from '../targets/entities.js';
import { authenticateApiKey } from './api-keys.js';
import { looksLikeAgentToken } from './agent-tokens.js';

export type Authentication =
  /** credentialExpiresAt: when a vendor key expires (its sockets are closed then). */
  | { ok: true; principal: Principal | null; credentialExpiresAt?: Date | null }
  /**
   * 4401: the credential does not identify anyone now (missing, malformed, unknown, expired or
   * revoked API key; expired or malformed agent token: log in again); 4403: an agent token whose
   * credential was rotated or whose target is gone (stop for good).
   */
  | { ok: false; code: typeof AgentCloseCode.Unauthorized | typeof AgentCloseCode.Forbidden; reason: string };

/**
 * Current credential generation per target, kept fresh by rotation events, so agent calls need no
 * lookup. Misses (after a hub start, every agent coming back at once) are loaded together: one
 * query at a time, each with all the misses that arrived while the previous one ran.
 */
export class GenerationCache {
  private readonly generations = new Map<string, number>();
  /** Bumped by clear(): a load that began before it must not fill the cache with what it read. */
  private epoch = 0;
  /** The lookup in flight: the next batch is sent when it is done, so misses arriving meanwhile share one query. */
  private inFlight: Promise<void> | null = null;
  private readonly loader = new DataLoader<string, number | null>(
    (ids) => {
      const loading = this.load(ids);
      const settled = loading.then(
        () => undefined,
        () => undefined,
      );
      this.inFlight = settled;
      void settled.then(() => {
        if (this.inFlight === settled) this.inFlight = null;
      });
      return loading;
    },
    {
      cache: false,
      maxBatchSize: 1000,
      batchScheduleFn: (run) => {
        if (this.inFlight) void this.inFlight.then(() => setImmediate(run));
        else setImmediate(run);
      },
    },
  );

  constructor(private readonly rootEm: EntityManager) {}

  set(targetId: string, generation: number): void {
    this.generations.set(targetId, generation);
  }

  clear(): void {
    this.generations.clear();
    this.epoch++;
  }

  async get(targetId: string): Promise<number | null> {
    const known = this.generations.get(targetId);
    if (known !== undefined) return known;
    return this.loader.load(targetId);
  }

  private async load(ids: readonly string[]): Promise<(number | null)[]> {
    const epoch = this.epoch;
    const found = await readGenerations(this.rootEm, ids);
    for (const [id, generation] of found) {
      // A rotation event that arrived meanwhile is newer than what was read.
      if (epoch === this.epoch && !this.generations.has(id)) this.generations.set(id, generation);
    }
    return ids.map((id) => this.generations.get(id) ?? found.get(id) ?? null);
  }
}

/** The current credential generation of each given target that exists (plain SQL, one statement). */
export async function readGenerations(rootEm: EntityManager, targetIds: readonly string[]): Promise<Map<string, number>> {
  const rows: { id: string; credential_generation: number }[] = await rootEm
    .fork()
    .execute(`select id, credential_generation from ${rootEm.getMetadata(DeploymentTarget).tableName} where id in (?)`, [targetIds]);
  return new Map(rows.map((r) => [r.id, r.credential_generation]));
}

/**
 * Resolve a bearer credential (vendor API key or agent token); no credential means anonymous.
 * `em` is asked for only by an API key: an agent token needs no entity manager (forking one for
 * every agent of a reconnect storm was a measurable share of its cost).
 */
export async function authenticate(em: () => EntityManager, hub: HubRuntime & { generations: GenerationCache }, bearer: string | null): Promise<Authentication> {
  if (!bearer) return { ok: true, principal: null };
  if (looksLikeAgentToken(bearer)) {
    const check = await hub.agentTokens.verify(bearer);
    if (!check.ok) return { ok: false, code: AgentCloseCode.Unauthorized, reason: check.reason === 'expired' ? 'agent token expired' : 'agent token invalid' };
    const current = await hub.generations.get(check.claims.targetId);
    if (current === null || current !== check.claims.generation) {
      return { ok: false, code: AgentCloseCode.Forbidden, reason: 'agent credential was rotated or the target deleted' };
    }
    return { ok: true, principal: { kind: 'agent', ...check.claims } };
  }
  const vendor = await authenticateApiKey(em(), bearer);
  if (!vendor) return { ok: false, code: AgentCloseCode.Unauthorized, reason: API_KEY_REFUSED };
  return { ok: true, principal: vendor.principal, credentialExpiresAt: vendor.expiresAt };
}

export const API_KEY_REFUSED = 'API key invalid, expired or revoked';

export function bearerFrom(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1]!.trim() : null;
}

/**
 * The credential a graphql-ws client sent in its connection_init payload: `token`, or an
 * `Authorization: Bearer …` entry in any case spelling, at the top level or under `headers`
 * (what header-minded clients, GraphiQL included, tend to send).
 */
export function credentialFromParams(params: unknown, depth = 0): string | null {
  if (!params || typeof params !== 'object') return null;
  const record = params as Record<string, unknown>;
  if (typeof record.token === 'string' && record.token) return record.token;
  for (const [key, value] of Object.entries(record)) {
    if (key.toLowerCase() === 'authorization' && typeof value === 'string') return bearerFrom(value);
  }
  for (const [key, value] of Object.entries(record)) {
    if (depth === 0 && key.toLowerCase() === 'headers') return credentialFromParams(value, 1);
  }
  return null;
}
