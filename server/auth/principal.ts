import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, Principal } from '../context.js';
import { DeploymentTarget } from '../targets/entities.js';
import { authenticateApiKey } from './api-keys.js';
import { looksLikeAgentToken } from './agent-tokens.js';

export type Authentication =
  | { ok: true; principal: Principal | null }
  /** 4401: log in again (expired or malformed); 4403: revoked (rotated) or unknown key. */
  | { ok: false; code: 4401 | 4403; reason: string };

/** Current credential generation per target, kept fresh by rotation events, so agent calls need no lookup. */
export class GenerationCache {
  private readonly generations = new Map<string, number>();

  set(targetId: string, generation: number): void {
    this.generations.set(targetId, generation);
  }

  async get(em: EntityManager, targetId: string): Promise<number | null> {
    const known = this.generations.get(targetId);
    if (known !== undefined) return known;
    const target = await em.findOne(DeploymentTarget, { id: targetId }, { fields: ['credentialGeneration'] });
    if (!target) return null;
    this.generations.set(targetId, target.credentialGeneration);
    return target.credentialGeneration;
  }
}

/** Resolve a bearer credential (vendor API key or agent token); no credential means anonymous. */
export async function authenticate(em: EntityManager, hub: HubRuntime & { generations: GenerationCache }, bearer: string | null): Promise<Authentication> {
  if (!bearer) return { ok: true, principal: null };
  if (looksLikeAgentToken(bearer)) {
    const check = await hub.agentTokens.verify(bearer);
    if (!check.ok) return { ok: false, code: 4401, reason: check.reason === 'expired' ? 'agent token expired' : 'agent token invalid' };
    const current = await hub.generations.get(em, check.claims.targetId);
    if (current === null || current !== check.claims.generation) {
      return { ok: false, code: 4403, reason: 'agent credential was rotated or the target deleted' };
    }
    return { ok: true, principal: { kind: 'agent', ...check.claims } };
  }
  const vendor = await authenticateApiKey(em, bearer);
  if (!vendor) return { ok: false, code: 4403, reason: 'API key invalid, expired or revoked' };
  return { ok: true, principal: vendor };
}

export function bearerFrom(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1]!.trim() : null;
}
