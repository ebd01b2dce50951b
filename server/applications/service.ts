import type { EntityManager } from '@mikro-orm/postgresql';
import type { VendorPrincipal } from '../context.js';
import { ConflictError, InvalidInputError, RuleViolationError } from '../errors.js';
import { referencesInValue } from '../secrets/templates.js';
import { findOwned, flushOrConflict } from '../scoping.js';
import { limitDocument, parseEnvFile, parseYamlMapping, refuseOnErrors, requireName, requireUrl } from '../validation.js';
import { checkDockerVersion, checkKubernetesVersion, type CheckSettings } from '../validation/checks.js';
import type { Keyring } from '../secrets/encryption.js';
import { credentialsForChecks } from '../secrets/resolve.js';
import type { Finding } from '../validation/findings.js';
import { Application, ApplicationVersion, type ChartType, type DeploymentType } from './entities.js';
import { DeploymentRevision } from '../deployments/entities.js';

/** Rules for applications and their immutable versions. */
export class ApplicationService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
    private readonly checks: CheckSettings,
    /** Decrypts the registry credentials the checks use. */
    private readonly keyring: Keyring,
  ) {}

  /** The check settings with the organization's registry credentials for this application (no target yet). */
  private async checksFor(applicationId: string): Promise<CheckSettings> {
    const credentials = await credentialsForChecks(this.em, this.keyring, { organizationId: this.actor.organizationId, applicationId, targetId: null });
    return { ...this.checks, credentials };
  }

  getApplication(id: string): Promise<Application> {
    return findOwned(this.em, Application, 'application', id, { organization: this.actor.organizationId });
  }

  getVersion(id: string): Promise<ApplicationVersion> {
    return findOwned(this.em, ApplicationVersion, 'application version', id, {
      application: { organization: this.actor.organizationId },
    });
  }

  listApplications(limit: number, offset: number): Promise<Application[]> {
    return this.em.find(Application, { organization: this.actor.organizationId }, { orderBy: { createdAt: 'asc', id: 'asc' }, limit, offset });
  }

  async createApplication(input: { name: string; type: DeploymentType }): Promise<Application> {
    const name = requireName('name', input.name);
    const app = this.em.create(Application, { organization: this.actor.organizationId, name, type: input.type });
    await flushOrConflict(this.em, () => new ConflictError('name', `an application named "${name}" already exists`));
    return app;
  }

  async renameApplication(id: string, newName: string): Promise<Application> {
    const app = await this.getApplication(id);
    app.name = requireName('name', newName);
    await flushOrConflict(this.em, () => new ConflictError('name', `an application named "${app.name}" already exists`));
    return app;
  }

  async deleteApplication(id: string): Promise<string> {
    const app = await this.getApplication(id);
    const deployments = await this.em.count('Deployment', { application: app.id });
    if (deployments > 0) {
      throw new RuleViolationError('application_in_use', `application "${app.name}" still has ${deployments} deployment(s); delete them first`);
    }
    await this.em.nativeDelete(ApplicationVersion, { application: app.id });
    await this.em.removeAndFlush(app);
    return id;
  }

  async createDockerVersion(applicationId: string, input: { name: string; composeFile: string; envTemplate?: string | null }): Promise<ApplicationVersion> {
    const app = await this.getApplication(applicationId);
    if (app.type !== 'docker') {
      throw new RuleViolationError('type_mismatch', `application "${app.name}" is of type ${app.type}: create a kubernetes version for it, not a docker version`);
    }
    const name = requireName('name', input.name);
    const findings = await this.checkDockerVersion(app.id, input);
    refuseOnErrors(findings);
    const envTemplate = input.envTemplate ?? '';
    referencesInValue('envTemplate', parseEnvFile('envTemplate', envTemplate));
    const version = this.em.create(ApplicationVersion, { application: app, name, composeFile: input.composeFile, envTemplate, findings: findings.length > 0 ? findings : null });
    await flushOrConflict(this.em, () => new ConflictError('name', `application "${app.name}" already has a version named "${name}"`));
    return version;
  }

  async createKubernetesVersion(
    applicationId: string,
    input: {
      name: string;
      chartType: ChartType;
      chartUrl: string;
      chartName?: string | null;
      chartVersion: string;
      baseValues?: string | null;
      valuesTemplate?: string | null;
    },
  ): Promise<ApplicationVersion> {
    const app = await this.getApplication(applicationId);
    if (app.type !== 'kubernetes') {
      throw new RuleViolationError('type_mismatch', `application "${app.name}" is of type ${app.type}: create a docker version for it, not a kubernetes version`);
    }
    const name = requireName('name', input.name);
    const { findings, chart } = await this.checkKubernetesVersion(app.id, input);
    refuseOnErrors(findings);
    const chartVersion = input.chartVersion.trim();
    const baseValues = input.baseValues ?? '';
    const valuesTemplate = input.valuesTemplate ?? '';
    referencesInValue('baseValues', parseYamlMapping('baseValues', baseValues));
    referencesInValue('valuesTemplate', parseYamlMapping('valuesTemplate', valuesTemplate));
    limitDocument('chartUrl', input.chartUrl);
    const version = this.em.create(ApplicationVersion, {
      application: app,
      name,
      chartType: input.chartType,
      chartUrl: input.chartUrl,
      chartName: input.chartType === 'repository' ? input.chartName!.trim() : null,
      chartVersion,
      baseValues,
      valuesTemplate,
      chartDigest: chart?.digest ?? null,
      findings: findings.length > 0 ? findings : null,
    });
    await flushOrConflict(this.em, () => new ConflictError('name', `application "${app.name}" already has a version named "${name}"`));
    return version;
  }

  /** The checks of a docker version (dry run: nothing is written). */
  async checkDockerVersion(applicationId: string, input: { composeFile: string; envTemplate?: string | null }): Promise<Finding[]> {
    limitDocument('composeFile', input.composeFile);
    limitDocument('envTemplate', input.envTemplate ?? '');
    return checkDockerVersion(input, await this.checksFor(applicationId));
  }

  /** The checks of a kubernetes version (dry run); the well-formedness rules throw InvalidInputError. */
  async checkKubernetesVersion(applicationId: string, input: {
    chartType: ChartType;
    chartUrl: string;
    chartName?: string | null;
    chartVersion: string;
    baseValues?: string | null;
    valuesTemplate?: string | null;
  }) {
    if (input.chartType === 'oci') {
      requireUrl('chartUrl', input.chartUrl, ['oci:']);
    } else {
      requireUrl('chartUrl', input.chartUrl, ['http:', 'https:']);
      if (!input.chartName?.trim()) throw new InvalidInputError('chartName', 'is required for repository charts');
    }
    const chartVersion = input.chartVersion.trim();
    if (!chartVersion) throw new InvalidInputError('chartVersion', 'must not be empty');
    limitDocument('chartUrl', input.chartUrl);
    limitDocument('baseValues', input.baseValues ?? '');
    limitDocument('valuesTemplate', input.valuesTemplate ?? '');
    return checkKubernetesVersion(
      { type: input.chartType, url: input.chartUrl, name: input.chartType === 'repository' ? input.chartName!.trim() : null, version: chartVersion, baseValues: input.baseValues, valuesTemplate: input.valuesTemplate },
      await this.checksFor(applicationId),
    );
  }

  /** Archiving hides a version from new deployments; its content never changes. */
  async setVersionArchived(id: string, archived: boolean): Promise<ApplicationVersion> {
    const version = await this.getVersion(id);
    version.archivedAt = archived ? (version.archivedAt ?? new Date()) : null;
    await this.em.flush();
    return version;
  }

  async deleteVersion(id: string): Promise<string> {
    const version = await this.getVersion(id);
    const uses = await this.em.count(DeploymentRevision, { version: version.id });
    if (uses > 0) {
      throw new RuleViolationError('version_in_use', `version "${version.name}" is used by ${uses} deployment revision(s) and cannot be deleted; archive it instead`);
    }
    await this.em.removeAndFlush(version);
    return id;
  }
}
