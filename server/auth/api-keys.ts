import type { EntityManager } from '@mikro-orm/postgresql';
import type { VendorPrincipal } from '../context.js';
import { InvalidInputError, NotFoundError, RuleViolationError } from '../errors.js';
import { Membership, roleAtLeast, User, type Role } from '../orgs/entities.js';
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
  const row = await keyRow(em, id!);
  // SHA-256 of the presented secret against the stored one, compared in constant time.
  if (!row || !secretMatches(secret!, row.secret_hash)) return null;
  return principalOfRow(em, row);
}

/**
 * The key's rights as they are now: null once it is revoked, expired or its user left the
 * organization; the role follows the membership. Long-lived sockets call this before every
 * operation, so a change takes effect at the next one.
 */
export async function currentApiKeyPrincipal(em: EntityManager, apiKeyId: string): Promise<ApiKeyAuthentication | null> {
  const row = await keyRow(em, apiKeyId);
  return row ? principalOfRow(em, row) : null;
}

interface KeyRow {
  id: string;
  organization_id: string;
  user_id: string;
  name: string;
  secret_hash: string;
  role_cap: Role;
  expires_at: Date | string | null;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
  email: string;
  /** Null when the key's user is no longer a member of the key's organization. */
  member_role: Role | null;
}

/**
 * The key, its user's e-mail and the user's membership, read as committed now in one indexed
 * statement (primary key, then the membership's unique (organization, user) index). Plain SQL: every
 * API-key call runs it, and building and hydrating entities cost more than the round trip. Nothing
 * is cached between calls, so a revocation, expiry or membership change made by any replica (or
 * behind the hubs' back) applies to the very next request everywhere.
 */
async function keyRow(em: EntityManager, id: string): Promise<KeyRow | null> {
  const rows: KeyRow[] = await em.execute(
    `select k.id, k.organization_id, k.user_id, k.name, k.secret_hash, k.role_cap, k.expires_at, k.last_used_at, k.revoked_at, u.email, m.role as member_role
     from ${em.getMetadata(ApiKey).tableName} k join ${em.getMetadata(User).tableName} u on u.id = k.user_id
     left join ${em.getMetadata(Membership).tableName} m on m.organization_id = k.organization_id and m.user_id = k.user_id
     where k.id = ?`,
    [id],
  );
  return rows[0] ?? null;
}

const asDate = (v: Date | string | null): Date | null => (v === null ? null : v instanceof Date ? v : new Date(v));

async function principalOfRow(em: EntityManager, row: KeyRow): Promise<ApiKeyAuthentication | null> {
  const expiresAt = asDate(row.expires_at);
  if (row.revoked_at || (expiresAt && expiresAt <= new Date()) || !row.member_role) return null;
  // Writing last-used on every request would turn reads into writes; once a minute is enough.
  const lastUsedAt = asDate(row.last_used_at);
  if (!lastUsedAt || Date.now() - lastUsedAt.getTime() > 60_000) {
    await em.nativeUpdate(ApiKey, { id: row.id }, { lastUsedAt: new Date() });
  }
  const role: Role = roleAtLeast(row.member_role, row.role_cap) ? row.role_cap : row.member_role;
  return {
    principal: {
      kind: 'vendor',
      organizationId: row.organization_id,
      userId: row.user_id,
      role,
      apiKeyId: row.id,
      label: `${row.email} (key ${row.name})`,
    },
    expiresAt,
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
