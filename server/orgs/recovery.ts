import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiKey } from '../auth/entities.js';
import { formatApiKey } from '../auth/api-keys.js';
import { hashSecret, newSecret } from '../auth/secrets.js';
import { Membership, Organization } from './entities.js';

/** A recovery request that cannot be served, said in one sentence. */
export class RecoveryError extends Error {}

/**
 * A new admin API key for an organization whose admin key is lost: server-side only (it needs the
 * database), for an admin member (the given e-mail, else the oldest admin). The organization may
 * be omitted when there is only one. Returns the key, to be shown once.
 */
export async function createRecoveryAdminKey(
  em: EntityManager,
  opts: { organization?: string; email?: string },
): Promise<{ organization: string; email: string; apiKey: string }> {
  const organizations = await em.find(Organization, {}, { orderBy: { createdAt: 'asc' } });
  const wanted = opts.organization;
  const matching = wanted ? organizations.filter((o) => o.id === wanted || o.name === wanted) : organizations;
  if (matching.length === 0) throw new RecoveryError(wanted ? `no organization named or with id "${wanted}"` : 'the database has no organization yet; start the hub once to create one');
  if (matching.length > 1) {
    throw new RecoveryError(`there are ${matching.length} organizations (${matching.map((o) => `"${o.name}" ${o.id}`).join(', ')}); choose one with --organization`);
  }
  const organization = matching[0]!;
  const admins = await em.find(Membership, { organization: organization.id, role: 'admin', ...(opts.email ? { user: { email: opts.email.trim().toLowerCase() } } : {}) }, { populate: ['user'], orderBy: { createdAt: 'asc' } });
  const admin = admins[0];
  if (!admin) throw new RecoveryError(opts.email ? `${opts.email} is not an admin of "${organization.name}"` : `"${organization.name}" has no admin`);
  const secret = newSecret();
  const key = em.create(ApiKey, {
    organization: organization.id,
    user: admin.user,
    name: `recovery ${new Date().toISOString()}`,
    secretHash: hashSecret(secret),
    roleCap: 'admin',
  });
  await em.flush();
  return { organization: organization.name, email: admin.user.email, apiKey: formatApiKey(key.id, secret) };
}
