/**
 * Which secret value a revision renders: for each referenced name, the target's own secret if it
 * had a value when the revision was made, else the organization's; in both cases the newest value
 * not newer than the revision. So a secret change reaches agents only through a new revision.
 * Also: which registry credentials a deployment gets.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RegistryAuth } from '../../protocol/index.js';
import type { Keyring } from './encryption.js';

interface ValueRow {
  organization_id: string;
  target_id: string | null;
  name: string;
  value_id: string;
  ciphertext: string;
  created_at: Date;
}

export interface SecretLookup {
  organizationId: string;
  targetId: string;
  names: Iterable<string>;
  /** The revision's creation time; null: now. */
  at: Date | null;
}

export const secretValueAad = (valueId: string) => `secret-value:${valueId}`;
export const registryCredentialAad = (credentialId: string) => `registry-credential:${credentialId}`;

/** Loads the candidate values for many lookups in one query; `resolve` then picks per lookup. */
export async function loadSecretValues(em: EntityManager, lookups: readonly SecretLookup[], keyring: Keyring) {
  const names = [...new Set(lookups.flatMap((l) => [...l.names]))];
  const orgs = [...new Set(lookups.map((l) => l.organizationId))];
  const targets = [...new Set(lookups.map((l) => l.targetId))];
  const rows =
    names.length === 0
      ? []
      : await em.execute<ValueRow[]>(
          `select s.organization_id, s.target_id, s.name, v.id as value_id, v.ciphertext, v.created_at
           from secret s join secret_value v on v.secret_id = s.id
           where s.name in (?) and ((s.target_id is null and s.organization_id in (?)) or s.target_id in (?))
           order by v.created_at asc, v.id asc`,
          [names, orgs, targets],
        );
  const byKey = new Map<string, ValueRow[]>();
  for (const row of rows) {
    const key = `${row.target_id ?? `org:${row.organization_id}`}|${row.name}`;
    (byKey.get(key) ?? byKey.set(key, []).get(key)!).push(row);
  }
  const newestAt = (list: ValueRow[] | undefined, at: Date | null) => {
    let found: ValueRow | null = null;
    for (const row of list ?? []) if (!at || new Date(row.created_at).getTime() <= at.getTime()) found = row;
    return found;
  };
  return {
    /** name → plaintext for the names that resolve; missing names are absent. */
    resolve(lookup: SecretLookup): Map<string, string> {
      const values = new Map<string, string>();
      for (const name of lookup.names) {
        const row = newestAt(byKey.get(`${lookup.targetId}|${name}`), lookup.at) ?? newestAt(byKey.get(`org:${lookup.organizationId}|${name}`), lookup.at);
        if (row) values.set(name, keyring.decrypt(row.ciphertext, secretValueAad(row.value_id)));
      }
      return values;
    },
  };
}

interface CredentialRow {
  id: string;
  organization_id: string;
  host: string;
  username: string;
  password_ciphertext: string;
  application_ids: string[];
  target_ids: string[];
  updated_at: Date;
}

/** Registry host as docker names it: docker.io for Docker Hub, else the first path part. */
export function registryHostOf(imageRef: string): string {
  const slash = imageRef.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = imageRef.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return normalizeRegistryHost(first);
  return 'docker.io';
}

/** `https://Registry.Example.com/` → `registry.example.com`; Docker Hub's aliases → docker.io. */
export function normalizeRegistryHost(host: string): string {
  const bare = host.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
  return ['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'].includes(bare) ? 'docker.io' : bare;
}

export async function loadRegistryCredentials(em: EntityManager, organizationIds: readonly string[], keyring: Keyring) {
  const rows =
    organizationIds.length === 0
      ? []
      : await em.execute<CredentialRow[]>(
          `select id, organization_id, host, username, password_ciphertext, application_ids, target_ids, updated_at
           from registry_credential where organization_id in (?)`,
          [[...new Set(organizationIds)]],
        );
  return {
    /**
     * The credentials a deployment gets: per host, the most specific credential whose limits
     * admit it (application and target > target > application > organization-wide; a tie: the
     * newest). `hosts` null: every host (kubernetes charts name their images only when rendered).
     * `targetId` null (the hub's checks of a version, no target known yet): target limits do not
     * exclude, but a credential every target of the application gets is preferred
     * (application > organization-wide > application and some targets > some targets).
     */
    select(organizationId: string, applicationId: string, targetId: string | null, hosts: ReadonlySet<string> | null): RegistryAuth[] {
      const best = new Map<string, { row: CredentialRow; rank: number }>();
      for (const row of rows) {
        if (row.organization_id !== organizationId) continue;
        const apps = row.application_ids ?? [];
        const targets = row.target_ids ?? [];
        if (apps.length > 0 && !apps.includes(applicationId)) continue;
        if (targetId !== null && targets.length > 0 && !targets.includes(targetId)) continue;
        if (hosts && !hosts.has(row.host)) continue;
        const rank = (targets.length > 0 ? (targetId === null ? -2 : 2) : 0) + (apps.length > 0 ? 1 : 0);
        const current = best.get(row.host);
        if (!current || rank > current.rank || (rank === current.rank && new Date(row.updated_at) > new Date(current.row.updated_at))) {
          best.set(row.host, { row, rank });
        }
      }
      return [...best.values()]
        .map(({ row }) => ({ host: row.host, username: row.username, password: keyring.decrypt(row.password_ciphertext, registryCredentialAad(row.id)) }))
        .sort((a, b) => a.host.localeCompare(b.host));
    },
  };
}

/**
 * The registry credentials the hub's own checks use (chart and image lookups): those a
 * deployment of the application on the target would get (`select`, every host), or, without a
 * target, the application's preferred one per host.
 */
export async function credentialsForChecks(
  em: EntityManager,
  keyring: Keyring,
  scope: { organizationId: string; applicationId: string; targetId: string | null },
): Promise<RegistryAuth[]> {
  const credentials = await loadRegistryCredentials(em, [scope.organizationId], keyring);
  return credentials.select(scope.organizationId, scope.applicationId, scope.targetId, null);
}
