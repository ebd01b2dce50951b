import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, Principal } from '../context.js';
import { DeploymentTarget } from '../targets/entities.js';
import { AgentCloseCode } from '../../protocol/index.js';
import { authenticateApiKey, looksLikeApiKey } from './api-keys.js';
import { looksLikeAgentToken, type AgentTokens, type TokenCheck } from './agent-tokens.js';

export type Authentication =
  | { ok: true; principal: Principal | null }
  /** 4401: log in again (missing, malformed, bad signature, expired); 4403: revoked (rotated) or unknown key. */
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
  // Neither an agent token (a JWT) nor an API key: malformed, so "log in again", not "revoked".
  if (!looksLikeApiKey(bearer)) return { ok: false, code: AgentCloseCode.Unauthorized, reason: 'credential is neither an agent token nor an API key' };
  const vendor = await authenticateApiKey(em, bearer);
  if (!vendor) return { ok: false, code: AgentCloseCode.Forbidden, reason: 'API key invalid, expired or revoked' };
  return { ok: true, principal: vendor };
}

export function bearerFrom(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1]!.trim() : null;
}
