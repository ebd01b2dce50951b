import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, VendorPrincipal } from '../context.js';
import { ConflictError, InvalidInputError, NotFoundError, RuleViolationError } from '../errors.js';
import { findOwned, flushOrConflict, isUuid } from '../scoping.js';
import { DeploymentTarget } from '../targets/entities.js';
import { Application } from '../applications/entities.js';
import { Deployment, DeploymentRevision } from '../deployments/entities.js';
import { mergeEnvFile, mergeValues } from '../agents/desired-state.js';
import { requireName } from '../validation.js';
import { RegistryCredential, Secret, SecretValue } from './entities.js';
import { loadSecretValues, normalizeRegistryHost, registryCredentialAad, secretValueAad } from './resolve.js';
import { referencesInValue, requireSecretName } from './templates.js';

/** Largest secret value: enough for a certificate bundle, small enough for an env file. */
const MAX_SECRET_BYTES = 64 * 1024;

export interface SetSecretInput {
  name: string;
  value: string;
  /** A customer's own value for this target; null: the organization's value. */
  targetId?: string | null;
  /** Store this setting on the secret: every later change appends revisions. */
  redeployOnChange?: boolean | null;
  /** Append a revision to each affected deployment now (default: the secret's setting). */
  redeploy?: boolean | null;
}

export interface SecretChange {
  secret: Secret;
  /** Deployments whose current revision renders this secret from this scope. */
  affected: Deployment[];
  /** The subset that got a new revision (and so redeploys). */
  redeployed: Deployment[];
}

interface UsageRow {
  deployment_id: string;
  target_id: string;
  env_template: string | null;
  env_file: string | null;
  base_values: string | null;
  values_yaml: string | null;
  compose_type: string | null;
}

/** The secret names a revision's content references (env template + env file, or base values + values). */
export function revisionReferences(row: Omit<UsageRow, 'deployment_id' | 'target_id'>): Set<string> {
  try {
    return row.compose_type
      ? referencesInValue('envFile', mergeEnvFile(row.env_template, row.env_file))
      : referencesInValue('valuesYaml', mergeValues(row.base_values, row.values_yaml));
  } catch {
    return new Set();
  }
}

/**
 * Check that a revision about to be written can be rendered on its target now: every secret it
 * references has a value (the target's or the organization's). Names the first missing one.
 */
export async function requireSecretsDefined(
  em: EntityManager,
  hub: HubRuntime,
  organizationId: string,
  target: { id: string; name: string },
  names: ReadonlySet<string>,
  field: string,
): Promise<void> {
  if (names.size === 0) return;
  const values = await loadSecretValues(em, [{ organizationId, targetId: target.id, names, at: null }], hub.keyring);
  const resolved = values.resolve({ organizationId, targetId: target.id, names, at: null });
  for (const name of [...names].sort()) {
    if (!resolved.has(name)) {
      throw new InvalidInputError(field, `references secret "${name}", which is defined neither for target "${target.name}" nor for the organization`);
    }
  }
}

/** Named secrets: write-only values, usage, redeploys. */
export class SecretService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
    private readonly hub: HubRuntime,
  ) {}

  listSecrets(targetId: string | null): Promise<Secret[]> {
    if (targetId && !isUuid(targetId)) throw new NotFoundError('deployment target', targetId);
    return this.em.find(Secret, { organization: this.actor.organizationId, target: targetId ?? null }, { orderBy: { name: 'asc' } });
  }

  getSecret(id: string, em: EntityManager = this.em): Promise<Secret> {
    return findOwned(em, Secret, 'secret', id, { organization: this.actor.organizationId });
  }

  async setSecret(input: SetSecretInput): Promise<SecretChange> {
    const name = requireSecretName('name', input.name.trim());
    if (Buffer.byteLength(input.value) > MAX_SECRET_BYTES) throw new InvalidInputError('value', `is larger than ${MAX_SECRET_BYTES / 1024} KiB`);
    if (input.value.length === 0) throw new InvalidInputError('value', 'must not be empty');
    return this.em.transactional(async (em) => {
      const target = input.targetId
        ? await findOwned(em, DeploymentTarget, 'deployment target', input.targetId, { organization: this.actor.organizationId })
        : null;
      const now = new Date();
      let secret = await em.findOne(Secret, { organization: this.actor.organizationId, target: target?.id ?? null, name });
      if (!secret) {
        secret = em.create(Secret, {
          organization: this.actor.organizationId,
          target,
          name,
          redeployOnChange: input.redeployOnChange ?? false,
          createdAt: now,
          updatedAt: now,
          updatedBy: this.actor.label,
        });
      } else {
        secret.updatedAt = now;
        secret.updatedBy = this.actor.label;
        if (input.redeployOnChange != null) secret.redeployOnChange = input.redeployOnChange;
      }
      await flushOrConflict(em, () => new ConflictError('name', `secret "${name}" was just created by someone else; try again`));
      const valueId = randomUUID();
      em.create(SecretValue, { id: valueId, secret, ciphertext: this.hub.keyring.encrypt(input.value, secretValueAad(valueId)), createdAt: now, createdBy: this.actor.label });
      await em.flush();
      const affected = await this.affectedDeployments(em, secret);
      const redeploy = input.redeploy ?? secret.redeployOnChange;
      const redeployed = redeploy ? await this.appendRevisions(em, affected) : [];
      return { secret, affected, redeployed };
    });
  }

  /** Append one revision (same content) to each deployment so its agent renders the new value. */
  private async appendRevisions(em: EntityManager, deployments: Deployment[]): Promise<Deployment[]> {
    if (deployments.length === 0) return [];
    await em.populate(deployments, ['currentRevision']);
    // Not earlier than the value just written: the revision renders it.
    const at = new Date();
    for (const d of deployments) {
      const current = d.currentRevision!;
      d.currentRevision = em.create(DeploymentRevision, {
        deployment: d,
        version: current.version,
        envFile: current.envFile ?? null,
        valuesYaml: current.valuesYaml ?? null,
        forceRestart: false,
        createdBy: this.actor.label,
        createdAt: at,
      });
    }
    await em.flush();
    await this.hub.bus.publish(em, 'targetsChanged', { targetIds: [...new Set(deployments.map((d) => d.target.id))] });
    return deployments;
  }

  /**
   * Deployments whose current revision renders this secret from this scope: for a target's
   * secret, that target's deployments referencing the name; for the organization's, those on
   * targets without their own value.
   */
  async affectedDeployments(em: EntityManager, secret: Secret): Promise<Deployment[]> {
    const targetId = secret.target?.id ?? null;
    const rows = await em.execute<UsageRow[]>(
      `select d.id as deployment_id, d.target_id, d.compose_type, v.env_template, r.env_file, v.base_values, r.values_yaml
       from deployment d
       join deployment_revision r on r.id = d.current_revision_id
       join application_version v on v.id = r.version_id
       where d.organization_id = ? ${targetId ? 'and d.target_id = ?' : `and not exists (select 1 from secret o where o.target_id = d.target_id and o.name = ?)`}
       order by d.created_at asc, d.id asc`,
      [this.actor.organizationId, targetId ?? secret.name],
    );
    const ids = rows.filter((row) => revisionReferences(row).has(secret.name)).map((row) => row.deployment_id);
    return ids.length === 0 ? [] : em.find(Deployment, { id: { $in: ids } }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  }

  async usage(id: string): Promise<Deployment[]> {
    return this.affectedDeployments(this.em, await this.getSecret(id));
  }

  /** Delete a secret no deployment renders from it (those would lose their value). */
  async deleteSecret(id: string): Promise<string> {
    return this.em.transactional(async (em) => {
      const secret = await this.getSecret(id, em);
      const affected = await this.affectedDeployments(em, secret);
      if (affected.length > 0) {
        throw new RuleViolationError(
          'secret_in_use',
          `secret "${secret.name}" is referenced by ${affected.length} deployment(s) (${affected.map((d) => d.id).join(', ')}); change them first`,
        );
      }
      await em.nativeDelete(Secret, { id: secret.id });
      return id;
    });
  }
}

export interface RegistryCredentialInput {
  host?: string | null;
  username?: string | null;
  password?: string | null;
  applicationIds?: string[] | null;
  targetIds?: string[] | null;
}

/** Registry credentials: write-only passwords; agents receive them with their desired state. */
export class RegistryCredentialService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
    private readonly hub: HubRuntime,
  ) {}

  list(): Promise<RegistryCredential[]> {
    return this.em.find(RegistryCredential, { organization: this.actor.organizationId }, { orderBy: { host: 'asc', createdAt: 'asc' } });
  }

  get(id: string, em: EntityManager = this.em): Promise<RegistryCredential> {
    return findOwned(em, RegistryCredential, 'registry credential', id, { organization: this.actor.organizationId });
  }

  private async ownedIds(em: EntityManager, field: string, entity: typeof Application | typeof DeploymentTarget, label: string, ids: string[]): Promise<string[]> {
    const unique = [...new Set(ids)];
    for (const id of unique) if (!isUuid(id)) throw new NotFoundError(label, id);
    if (unique.length === 0) return [];
    const found = await em.find(entity as typeof Application, { id: { $in: unique }, organization: this.actor.organizationId }, { fields: ['id'] });
    const missing = unique.find((id) => !found.some((f) => f.id === id));
    if (missing) throw new NotFoundError(label, missing);
    void field;
    return unique.sort();
  }

  async create(input: RegistryCredentialInput): Promise<RegistryCredential> {
    if (!input.host) throw new InvalidInputError('host', 'is required (e.g. ghcr.io or registry.example.com:5000)');
    if (!input.username) throw new InvalidInputError('username', 'is required');
    if (!input.password) throw new InvalidInputError('password', 'is required (a password or token)');
    return this.em.transactional(async (em) => {
      const credentialId = randomUUID();
      const credential = em.create(RegistryCredential, {
        id: credentialId,
        organization: this.actor.organizationId,
        host: this.host(input.host!),
        username: requireName('username', input.username!),
        passwordCiphertext: this.hub.keyring.encrypt(input.password!, registryCredentialAad(credentialId)),
        applicationIds: await this.ownedIds(em, 'applicationIds', Application, 'application', input.applicationIds ?? []),
        targetIds: await this.ownedIds(em, 'targetIds', DeploymentTarget, 'deployment target', input.targetIds ?? []),
        createdBy: this.actor.label,
        updatedBy: this.actor.label,
      });
      await em.flush();
      await this.notify(em, credential);
      return credential;
    });
  }

  /** Rotate the password and/or change limits; agents get the change at once, nothing redeploys. */
  async update(id: string, input: RegistryCredentialInput): Promise<RegistryCredential> {
    return this.em.transactional(async (em) => {
      const credential = await this.get(id, em);
      const before = { applicationIds: credential.applicationIds, targetIds: credential.targetIds };
      if (input.host != null) credential.host = this.host(input.host);
      if (input.username != null) credential.username = requireName('username', input.username);
      if (input.password != null) {
        if (input.password === '') throw new InvalidInputError('password', 'must not be empty');
        credential.passwordCiphertext = this.hub.keyring.encrypt(input.password, registryCredentialAad(credential.id));
      }
      if (input.applicationIds != null) credential.applicationIds = await this.ownedIds(em, 'applicationIds', Application, 'application', input.applicationIds);
      if (input.targetIds != null) credential.targetIds = await this.ownedIds(em, 'targetIds', DeploymentTarget, 'deployment target', input.targetIds);
      credential.updatedAt = new Date();
      credential.updatedBy = this.actor.label;
      await em.flush();
      await this.notify(em, credential, before);
      return credential;
    });
  }

  async delete(id: string): Promise<string> {
    return this.em.transactional(async (em) => {
      const credential = await this.get(id, em);
      await em.nativeDelete(RegistryCredential, { id: credential.id });
      await this.notify(em, credential);
      return id;
    });
  }

  private host(text: string): string {
    const host = normalizeRegistryHost(text);
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/.test(host)) throw new InvalidInputError('host', `"${text}" is not a registry host (e.g. ghcr.io or registry.example.com:5000)`);
    return host;
  }

  /** Tell the agents of the targets this credential may concern (before and after a change). */
  private async notify(em: EntityManager, credential: RegistryCredential, before?: { applicationIds: string[]; targetIds: string[] }): Promise<void> {
    const rows = await em.execute<{ target_id: string }[]>(
      `select distinct target_id from deployment where organization_id = ?`,
      [this.actor.organizationId],
    );
    const limits = [credential, ...(before ? [before] : [])];
    const targetIds = rows
      .map((r) => r.target_id)
      .filter((t) => limits.some((l) => (l.targetIds ?? []).length === 0 || l.targetIds.includes(t)));
    if (targetIds.length > 0) await this.hub.bus.publish(em, 'targetsChanged', { targetIds });
  }
}
