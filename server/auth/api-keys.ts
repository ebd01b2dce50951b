import type { EntityManager } from '@mikro-orm/postgresql';
import type { VendorPrincipal } from '../context.js';
import { InvalidInputError, NotFoundError, RuleViolationError } from '../errors.js';
import { Membership, roleAtLeast, type Role } from '../orgs/entities.js';
import { findOwned } from '../scoping.js';
import { requireName } from '../validation.js';
import type { EventBus } from '../events/bus.js';
import { ApiKey } from './entities.js';
import { hashSecret, newSecret, secretMatches } from './secrets.js';

/** Keys look like `distr_<key id>_<secret>`: the id finds the row, the secret is checked against its hash. */
const KEY_PATTERN = /^distr_([0-9a-f-]{36})_([A-Za-z0-9_-]{43})$/;

export function formatApiKey(id: string, secret: string): string {
  return `distr_${id}_${secret}`;
}

/** A vendor principal and when its key expires (null: never). */
export interface ApiKeyAuthentication {
  principal: VendorPrincipal;
  expiresAt: Date | null;
}

/** Resolve a bearer API key to a vendor principal, or null when it is not valid now. */
export async function authenticateApiKey(em: EntityManager, presented: string): Promise<ApiKeyAuthentication | null> {
  const match = KEY_PATTERN.exec(presented);
  if (!match) return null;
  const [, id, secret] = match;
  const key = await em.findOne(ApiKey, { id: id! }, { populate: ['user'] });
  if (!key || !secretMatches(secret!, key.secretHash)) return null;
  return principalOfKey(em, key);
}

/**
 * The key's rights as they are now: null once it is revoked, expired or its user left the
 * organization; the role follows the membership. Long-lived sockets call this before every
 * operation, so a change takes effect at the next one.
 */
export async function currentApiKeyPrincipal(em: EntityManager, apiKeyId: string): Promise<ApiKeyAuthentication | null> {
  const key = await em.findOne(ApiKey, { id: apiKeyId }, { populate: ['user'] });
  return key ? principalOfKey(em, key) : null;
}

async function principalOfKey(em: EntityManager, key: ApiKey): Promise<ApiKeyAuthentication | null> {
  if (key.revokedAt || (key.expiresAt && key.expiresAt <= new Date())) return null;
  const membership = await em.findOne(Membership, { organization: key.organization.id, user: key.user.id });
  if (!membership) return null;
  // Writing last-used on every request would turn reads into writes; once a minute is enough.
  if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) {
    await em.nativeUpdate(ApiKey, { id: key.id }, { lastUsedAt: new Date() });
  }
  const role: Role = roleAtLeast(membership.role, key.roleCap) ? key.roleCap : membership.role;
  return {
    principal: {
      kind: 'vendor',
      organizationId: key.organization.id,
      userId: key.user.id,
      role,
      apiKeyId: key.id,
      label: `${key.user.email} (key ${key.name})`,
    },
    expiresAt: key.expiresAt ?? null,
  };
}

/** Create, list and revoke API keys of the caller's organization. */
export class ApiKeyService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
    private readonly bus: EventBus,
  ) {}

  list(): Promise<ApiKey[]> {
    return this.em.find(ApiKey, { organization: this.actor.organizationId }, { orderBy: { createdAt: 'asc' } });
  }

  /** A key for the caller itself; its role cap cannot exceed the caller's role. */
  async create(input: { name: string; roleCap?: Role | null; expiresAt?: Date | null }): Promise<{ key: ApiKey; secret: string }> {
    const name = requireName('name', input.name);
    const roleCap = input.roleCap ?? this.actor.role;
    if (!roleAtLeast(this.actor.role, roleCap)) {
      throw new RuleViolationError('role_cap_too_high', `a key cannot have more rights (${roleCap}) than its creator (${this.actor.role})`);
    }
    if (input.expiresAt && input.expiresAt <= new Date()) throw new InvalidInputError('expiresAt', 'must be in the future');
    const secret = newSecret();
    const key = this.em.create(ApiKey, {
      organization: this.actor.organizationId,
      user: this.actor.userId,
      name,
      secretHash: hashSecret(secret),
      roleCap,
      expiresAt: input.expiresAt ?? null,
    });
    await this.em.flush();
    return { key, secret: formatApiKey(key.id, secret) };
  }

  /** Revoke at once: every hub replica closes the key's open sockets when this commits. */
  async revoke(id: string): Promise<ApiKey> {
    return this.em.transactional(async (em) => {
      const key = await findOwned(em, ApiKey, 'API key', id, { organization: this.actor.organizationId });
      if (!key) throw new NotFoundError('API key', id);
      key.revokedAt ??= new Date();
      await em.flush();
      await this.bus.publish(em, 'apiKeyRevoked', { apiKeyId: key.id });
      return key;
    });
  }
}
