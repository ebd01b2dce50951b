import { AgentCloseCode } from '../../protocol/index.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, Principal } from '../context.js';
import { DeploymentTarget } from '../targets/entities.js';
import { authenticateApiKey } from './api-keys.js';
import { looksLikeAgentToken, type AgentTokens, type TokenCheck } from './agent-tokens.js';

export type Authentication =
  /** credentialExpiresAt: when a vendor key expires (its sockets are closed then). */
  | { ok: true; principal: Principal | null; credentialExpiresAt?: Date | null }
  /**
   * 4401: the credential does not identify anyone now (missing, malformed, unknown, expired or
   * revoked API key; expired or malformed agent token: log in again); 4403: an agent token whose
   * credential was rotated or whose target is gone (stop for good).
   */
  | { ok: false; code: typeof AgentCloseCode.Unauthorized | typeof AgentCloseCode.Forbidden; reason: string };

/** Current credential generation per target, kept fresh by rotation events, so agent calls need no lookup. */
export class GenerationCache {
  private readonly generations = new Map<string, number>();

  set(targetId: string, generation: number): void {
    this.generations.set(targetId, generation);
  }

  clear(): void {
    this.generations.clear();
  }

  async get(em: EntityManager, targetId: string): Promise<number | null> {
    const known = this.generations.get(targetId);
    if (known !== undefined) return known;
    // Plain SQL: a hub restart brings every agent back at once, each needing this lookup.
    const rows: { credential_generation: number }[] = await em.execute(
      `select credential_generation from ${em.getMetadata(DeploymentTarget).tableName} where id = ?`,
      [targetId],
    );
    if (rows.length === 0) return null;
    this.generations.set(targetId, rows[0]!.credential_generation);
    return rows[0]!.credential_generation;
  }
}

/**
 * Agent tokens already verified by this hub, by their exact text: an agent presents the same token
 * on every call until it logs in again, and HMAC verification through WebCrypto costs a thread-pool
 * round trip each time. A hit still checks expiry; the generation is checked on every call below.
 * Per AgentTokens instance (its key), so hubs sharing a process never share verdicts.
 */
const verifiedTokens = new WeakMap<AgentTokens, Map<string, Extract<TokenCheck, { ok: true }>>>();
const MAX_VERIFIED_TOKENS = 50_000;

async function verifyAgentToken(tokens: AgentTokens, token: string): Promise<TokenCheck> {
  let cache = verifiedTokens.get(tokens);
  if (!cache) verifiedTokens.set(tokens, (cache = new Map()));
  const known = cache.get(token);
  if (known) {
    if (known.expiresAt.getTime() > Date.now()) return known;
    cache.delete(token);
    return { ok: false, reason: 'expired' };
  }
  const check = await tokens.verify(token);
  if (check.ok) {
    if (cache.size >= MAX_VERIFIED_TOKENS) cache.delete(cache.keys().next().value!);
    cache.set(token, check);
  }
  return check;
}

/** Resolve a bearer credential (vendor API key or agent token); no credential means anonymous. */
export async function authenticate(em: EntityManager, hub: HubRuntime & { generations: GenerationCache }, bearer: string | null): Promise<Authentication> {
  if (!bearer) return { ok: true, principal: null };
  if (looksLikeAgentToken(bearer)) {
    const check = await verifyAgentToken(hub.agentTokens, bearer);
    if (!check.ok) return { ok: false, code: AgentCloseCode.Unauthorized, reason: check.reason === 'expired' ? 'agent token expired' : 'agent token invalid' };
    const current = await hub.generations.get(em, check.claims.targetId);
    if (current === null || current !== check.claims.generation) {
      return { ok: false, code: AgentCloseCode.Forbidden, reason: 'agent credential was rotated or the target deleted' };
    }
    return { ok: true, principal: { kind: 'agent', ...check.claims } };
  }
  const vendor = await authenticateApiKey(em, bearer);
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
