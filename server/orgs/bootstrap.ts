import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiKey } from '../auth/entities.js';
import { formatApiKey } from '../auth/api-keys.js';
import { hashSecret, newSecret } from '../auth/secrets.js';
import { generatePassword, hashPassword } from '../auth/passwords.js';
import { Organization, Setting } from './entities.js';
import { createOrganizationWithAdmin } from './service.js';

const BOOTSTRAP_LOCK = 0x64697375;

/**
 * First run: with no organization yet, create one with an admin user (admin@localhost, with a
 * generated password for the console) and an admin API key, and return both (to be printed once). Replicas starting together serialize on an advisory lock.
 */
export async function bootstrapFirstRun(em: EntityManager): Promise<{ organizationId: string; apiKey: string; adminEmail: string; adminPassword: string } | null> {
  return em.transactional(async (tx) => {
    await tx.execute('select pg_advisory_xact_lock(?)', [BOOTSTRAP_LOCK]);
    if ((await tx.count(Organization, {})) > 0) return null;
    const { organization, user } = await createOrganizationWithAdmin(tx, {
      organizationName: 'Default organization',
      adminEmail: 'admin@localhost',
      adminName: 'Administrator',
    });
    const adminPassword = generatePassword();
    user.passwordHash = await hashPassword(adminPassword);
    const secret = newSecret();
    const key = tx.create(ApiKey, { organization, user, name: 'bootstrap', secretHash: hashSecret(secret), roleCap: 'admin' });
    await tx.flush();
    return { organizationId: organization.id, apiKey: formatApiKey(key.id, secret), adminEmail: user.email, adminPassword };
  });
}

/** A setting shared by all replicas, created once with `initial()` if missing. */
export async function sharedSetting(em: EntityManager, key: string, initial: () => string): Promise<string> {
  await em.execute('insert into setting (key, value) values (?, ?) on conflict (key) do nothing', [key, initial()]);
  const row = await em.findOneOrFail(Setting, { key });
  return row.value;
}
