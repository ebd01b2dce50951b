import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, VendorPrincipal } from '../context.js';
import { ConflictError, InvalidInputError, RuleViolationError } from '../errors.js';
import { findOwned, flushOrConflict, isUuid } from '../scoping.js';
import { parseEnvFile, parseYamlMapping, refuseOnErrors, requireDns1123Label } from '../validation.js';
import { checkDockerDeployment, checkKubernetesDeployment, DEFAULT_CHECK_SETTINGS, type CheckSettings } from '../validation/checks.js';
import { credentialsForChecks } from '../secrets/resolve.js';
import type { RegistryAuth } from '../../protocol/index.js';
import type { Finding } from '../validation/findings.js';
import { referencesInValue } from '../secrets/templates.js';
import { Application, ApplicationVersion } from '../applications/entities.js';
import { DeploymentTarget } from '../targets/entities.js';
import { DeletedDeployment, Deployment, DeploymentRevision, type ComposeType, type DeploymentRow } from './entities.js';
import { NotFoundError } from '../errors.js';
import { requireSecretsDefined, revisionReferences } from '../secrets/service.js';
import { requireConfigurationsFit } from './version-fit.js';
import { loadDeploymentList, type DeploymentFilter } from './list.js';

export interface HelmOptionsInput {
  timeoutSeconds?: number | null;
  atomic?: boolean | null;
  wait?: boolean | null;
  ignoreDrift?: boolean | null;
}

export interface CreateDeploymentInput {
  targetId: string;
  versionId: string;
  docker?: { composeType: ComposeType; envFile?: string | null } | null;
  kubernetes?: ({ releaseName: string; valuesYaml?: string | null } & HelmOptionsInput) | null;
}

export interface UpdateDeploymentInput {
  versionId?: string | null;
  envFile?: string | null;
  valuesYaml?: string | null;
  helmOptions?: HelmOptionsInput | null;
}

const DEFAULT_HELM_OPTIONS = { timeoutSeconds: 300, atomic: false, wait: false, ignoreDrift: false };

function helmOptions(base: typeof DEFAULT_HELM_OPTIONS, input: HelmOptionsInput | null | undefined) {
  const merged = {
    timeoutSeconds: input?.timeoutSeconds ?? base.timeoutSeconds,
    atomic: input?.atomic ?? base.atomic,
    wait: input?.wait ?? base.wait,
    ignoreDrift: input?.ignoreDrift ?? base.ignoreDrift,
  };
  if (!Number.isInteger(merged.timeoutSeconds) || merged.timeoutSeconds < 10 || merged.timeoutSeconds > 3600) {
    throw new InvalidInputError('timeoutSeconds', 'must be a whole number of seconds between 10 and 3600');
  }
  return merged;
}

/** Secret references of a revision's content; a malformed reference is an InvalidInputError on `field`. */
function referencedSecrets(version: ApplicationVersion, envFile: string | null, valuesYaml: string | null, field: string): Set<string> {
  const row = { compose_type: version.composeFile ? 'compose' : null, env_template: version.envTemplate ?? null, env_file: envFile, base_values: version.baseValues ?? null, values_yaml: valuesYaml };
  // Syntax first (names the field), then the names.
  for (const text of [envFile, valuesYaml]) if (text) parseReferencesStrict(field, row.compose_type ? 'env' : 'yaml', text);
  return revisionReferences(row);
}

function parseReferencesStrict(field: string, kind: 'env' | 'yaml', text: string): void {
  referencesInValue(field, kind === 'env' ? parseEnvFile(field, text) : parseYamlMapping(field, text));
}

/** Rules for deployments and their append-only revisions. Every change notifies the target. */
export class DeploymentService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
    private readonly hub: HubRuntime,
    private readonly checks: CheckSettings = DEFAULT_CHECK_SETTINGS,
  ) {}

  /**
   * The checks of a deployment's configuration against its version (dry run, nothing written):
   * the compose file with the rendered env file (required variables left unset are errors), or
   * the values over the version's base values against the chart's values.schema.json.
   */
  async checkConfiguration(
    version: ApplicationVersion,
    targetId: string,
    config: { envFile?: string | null; valuesYaml?: string | null },
    fields = { envFile: 'envFile', valuesYaml: 'valuesYaml' },
  ): Promise<Finding[]> {
    // Chart and image lookups use the registry credentials this deployment's agent gets.
    const credentials = await credentialsForChecks(this.em, this.hub.keyring, { organizationId: this.actor.organizationId, applicationId: version.application.id, targetId });
    return this.checkConfigurationWith(version, credentials, config, fields);
  }

  /** checkConfiguration with the registry credentials already chosen (a preview of many deployments). */
  async checkConfigurationWith(
    version: ApplicationVersion,
    credentials: RegistryAuth[],
    config: { envFile?: string | null; valuesYaml?: string | null },
    fields = { envFile: 'envFile', valuesYaml: 'valuesYaml' },
  ): Promise<Finding[]> {
    const checks = { ...this.checks, credentials };
    if (version.composeFile !== null && version.composeFile !== undefined) {
      return checkDockerDeployment({ composeFile: version.composeFile, envTemplate: version.envTemplate, envFile: config.envFile, envField: fields.envFile }, checks);
    }
    return checkKubernetesDeployment(
      {
        type: version.chartType!,
        url: version.chartUrl!,
        name: version.chartName ?? null,
        version: version.chartVersion!,
        baseValues: version.baseValues,
        valuesYaml: config.valuesYaml,
        valuesField: fields.valuesYaml,
      },
      checks,
    );
  }

  /** Dry run of createDeployment: the typed errors it would throw are thrown, findings returned. */
  async validateDeployment(input: CreateDeploymentInput): Promise<Finding[]> {
    const target = await findOwned(this.em, DeploymentTarget, 'deployment target', input.targetId, { organization: this.actor.organizationId });
    const version = await this.usableVersion(this.em, input.versionId);
    const app = version.application as Application;
    if (app.type !== target.type) {
      throw new RuleViolationError('type_mismatch', `application "${app.name}" is of type ${app.type} but deployment target "${target.name}" is of type ${target.type}; deploy it to a ${app.type} target`);
    }
    if (app.type === 'docker') {
      const envFile = input.docker?.envFile ?? '';
      parseEnvFile('docker.envFile', envFile);
      return this.checkConfiguration(version, target.id, { envFile }, { envFile: 'docker.envFile', valuesYaml: 'kubernetes.valuesYaml' });
    }
    const valuesYaml = input.kubernetes?.valuesYaml ?? '';
    parseYamlMapping('kubernetes.valuesYaml', valuesYaml);
    if (input.kubernetes?.releaseName) requireDns1123Label('kubernetes.releaseName', input.kubernetes.releaseName);
    return this.checkConfiguration(version, target.id, { valuesYaml }, { envFile: 'docker.envFile', valuesYaml: 'kubernetes.valuesYaml' });
  }

  /** The troubleshooting checks of an existing deployment's current revision. */
  async checkDeployment(id: string): Promise<Finding[]> {
    const deployment = await this.getDeployment(id);
    await this.em.populate(deployment, ['currentRevision', 'currentRevision.version']);
    const revision = deployment.currentRevision!;
    const findings = await this.checkConfiguration(revision.version as ApplicationVersion, deployment.target.id, revision);
    const version = revision.version as ApplicationVersion;
    if (version.archivedAt) findings.push({ severity: 'warning', code: 'version_archived', field: 'versionId', path: '', message: `version "${version.name}" is archived`, hint: 'Move the deployment to a current version.' });
    return findings;
  }

  getDeployment(id: string, em: EntityManager = this.em): Promise<Deployment> {
    return findOwned(em, Deployment, 'deployment', id, { organization: this.actor.organizationId });
  }

  /** A page of the caller's organization's deployments, as plain rows (see ./list.ts). */
  listDeployments(filter: DeploymentFilter, limit: number, offset: number): Promise<DeploymentRow[]> {
    for (const [field, id] of [['targetId', filter.targetId], ['applicationId', filter.applicationId]] as const) {
      if (id && !isUuid(id)) throw new NotFoundError(field === 'targetId' ? 'deployment target' : 'application', id);
    }
    return loadDeploymentList(this.em, this.actor.organizationId, filter, limit, offset);
  }

  private async usableVersion(em: EntityManager, versionId: string): Promise<ApplicationVersion> {
    const version = await findOwned(em, ApplicationVersion, 'application version', versionId, {
      application: { organization: this.actor.organizationId },
    }, ['application']);
    if (version.archivedAt) throw new RuleViolationError('version_archived', `version "${version.name}" is archived and cannot be deployed`);
    return version;
  }

  async createDeployment(input: CreateDeploymentInput): Promise<Deployment> {
    // Checks first (they may ask registries): no transaction is held while they run.
    refuseOnErrors(await this.validateDeployment(input));
    return this.em.transactional(async (em) => {
      const target = await findOwned(em, DeploymentTarget, 'deployment target', input.targetId, { organization: this.actor.organizationId });
      const version = await this.usableVersion(em, input.versionId);
      const app = version.application as Application;
      if (app.type !== target.type) {
        throw new RuleViolationError(
          'type_mismatch',
          `application "${app.name}" is of type ${app.type} but deployment target "${target.name}" is of type ${target.type}; deploy it to a ${app.type} target`,
        );
      }
      let fields: Partial<Deployment>;
      let revisionFields: { envFile: string | null; valuesYaml: string | null };
      if (app.type === 'docker') {
        if (input.kubernetes) throw new InvalidInputError('kubernetes', 'a docker deployment takes docker settings, not kubernetes settings');
        if (!input.docker?.composeType) throw new InvalidInputError('docker.composeType', 'is required for docker deployments (compose or swarm)');
        const envFile = input.docker.envFile ?? '';
        parseEnvFile('docker.envFile', envFile);
        fields = { composeType: input.docker.composeType, releaseName: null, helmOptions: null };
        revisionFields = { envFile, valuesYaml: null };
      } else {
        if (input.docker) throw new InvalidInputError('docker', 'a kubernetes deployment takes kubernetes settings, not docker settings');
        if (!input.kubernetes?.releaseName) throw new InvalidInputError('kubernetes.releaseName', 'is required for kubernetes deployments');
        const releaseName = requireDns1123Label('kubernetes.releaseName', input.kubernetes.releaseName);
        const valuesYaml = input.kubernetes.valuesYaml ?? '';
        parseYamlMapping('kubernetes.valuesYaml', valuesYaml);
        fields = { composeType: null, releaseName, helmOptions: helmOptions(DEFAULT_HELM_OPTIONS, input.kubernetes) };
        revisionFields = { envFile: null, valuesYaml };
      }
      const field = app.type === 'docker' ? 'docker.envFile' : 'kubernetes.valuesYaml';
      await requireSecretsDefined(em, this.hub, this.actor.organizationId, target, referencedSecrets(version, revisionFields.envFile, revisionFields.valuesYaml, field), field);
      const deployment = em.create(Deployment, {
        organization: this.actor.organizationId,
        target,
        application: app,
        ...fields,
      } as never) as Deployment;
      const revision = em.create(DeploymentRevision, {
        deployment,
        version,
        ...revisionFields,
        forceRestart: false,
        createdBy: this.actor.label,
      });
      await flushOrConflict(em, () => new ConflictError('kubernetes.releaseName', `target "${target.name}" already has a release named "${fields.releaseName}"`));
      deployment.currentRevision = revision;
      await em.flush();
      await this.hub.bus.publish(em, 'targetsChanged', { targetIds: [target.id] });
      return deployment;
    });
  }

  /** Switch version and/or configuration: appends a revision; the content of old ones stays. */
  async updateDeployment(id: string, input: UpdateDeploymentInput): Promise<Deployment> {
    await this.checkUpdate(id, input);
    return this.em.transactional(async (em) => {
      const deployment = await this.getDeployment(id, em);
      await em.populate(deployment, ['currentRevision', 'application']);
      const next = await this.resolveUpdate(em, deployment, input);
      const { version, envFile, valuesYaml } = next;
      const isDocker = deployment.composeType !== null;
      if (input.helmOptions) deployment.helmOptions = next.helmOptions;
      const field = isDocker ? 'envFile' : 'valuesYaml';
      await em.populate(deployment, ['target']);
      await requireSecretsDefined(em, this.hub, this.actor.organizationId, deployment.target, referencedSecrets(version, envFile ?? null, valuesYaml ?? null, field), field);
      this.appendRevision(em, deployment, { version, envFile, valuesYaml, forceRestart: false });
      await em.flush();
      await this.hub.bus.publish(em, 'targetsChanged', { targetIds: [deployment.target.id] });
      return deployment;
    });
  }

  /**
   * What an update would make current (version, env file / values, helm options), with the typed
   * errors updateDeployment throws for bad input; writes nothing. `deployment` has its current
   * revision and application loaded.
   */
  async resolveUpdate(em: EntityManager, deployment: Deployment, input: UpdateDeploymentInput) {
    const current = deployment.currentRevision!;
    const isDocker = deployment.composeType !== null;
    let version = current.version as ApplicationVersion;
    if (input.versionId) {
      version = await this.usableVersion(em, input.versionId);
      if (version.application.id !== deployment.application.id) {
        throw new RuleViolationError(
          'version_of_other_application',
          `version "${version.name}" belongs to another application than this deployment's ("${deployment.application.name}")`,
        );
      }
    }
    let envFile = current.envFile ?? null;
    let valuesYaml = current.valuesYaml ?? null;
    if (input.envFile != null) {
      if (!isDocker) throw new InvalidInputError('envFile', 'only docker deployments have an env file; use valuesYaml');
      parseEnvFile('envFile', input.envFile);
      envFile = input.envFile;
    }
    if (input.valuesYaml != null) {
      if (isDocker) throw new InvalidInputError('valuesYaml', 'only kubernetes deployments have values; use envFile');
      parseYamlMapping('valuesYaml', input.valuesYaml);
      valuesYaml = input.valuesYaml;
    }
    let options = deployment.helmOptions ?? null;
    if (input.helmOptions) {
      if (isDocker) throw new InvalidInputError('helmOptions', 'only kubernetes deployments have helm options');
      options = helmOptions(deployment.helmOptions ?? DEFAULT_HELM_OPTIONS, input.helmOptions);
    }
    return { version, envFile, valuesYaml, helmOptions: options };
  }

  /** The checks of an update's resulting configuration; refuses on errors. */
  private async checkUpdate(id: string, input: UpdateDeploymentInput): Promise<void> {
    if (!input.versionId && input.envFile == null && input.valuesYaml == null) return;
    const deployment = await this.getDeployment(id);
    await this.em.populate(deployment, ['currentRevision', 'currentRevision.version']);
    const current = deployment.currentRevision!;
    const version = input.versionId ? await this.usableVersion(this.em, input.versionId) : (current.version as ApplicationVersion);
    if (version.application.id !== deployment.application.id) return; // the transaction reports it
    const isDocker = deployment.composeType !== null;
    if (isDocker && input.valuesYaml != null) return;
    if (!isDocker && input.envFile != null) return;
    if (input.envFile != null) parseEnvFile('envFile', input.envFile);
    if (input.valuesYaml != null) parseYamlMapping('valuesYaml', input.valuesYaml);
    refuseOnErrors(await this.checkConfiguration(version, deployment.target.id, { envFile: input.envFile ?? current.envFile, valuesYaml: input.valuesYaml ?? current.valuesYaml }));
  }

  /** Append a revision and make it current; old revisions never change. */
  private appendRevision(
    em: EntityManager,
    deployment: Deployment,
    content: { version: DeploymentRevision['version']; envFile?: string | null; valuesYaml?: string | null; forceRestart: boolean },
  ): void {
    deployment.currentRevision = em.create(DeploymentRevision, {
      deployment,
      version: content.version,
      envFile: content.envFile ?? null,
      valuesYaml: content.valuesYaml ?? null,
      forceRestart: content.forceRestart,
      createdBy: this.actor.label,
    });
  }

  /** Restart without changing anything: a revision flagged forceRestart with the same content. */
  async forceRestart(id: string): Promise<Deployment> {
    return this.em.transactional(async (em) => {
      const deployment = await this.getDeployment(id, em);
      await em.populate(deployment, ['currentRevision']);
      this.appendRevision(em, deployment, { ...deployment.currentRevision!, forceRestart: true });
      await em.flush();
      await this.hub.bus.publish(em, 'targetsChanged', { targetIds: [deployment.target.id] });
      return deployment;
    });
  }

  async deleteDeployment(id: string, removeVolumes: boolean): Promise<string> {
    await this.em.transactional(async (em) => {
      const deployment = await this.getDeployment(id, em);
      const targetId = deployment.target.id;
      em.create(DeletedDeployment, { deploymentId: deployment.id, target: targetId, removeVolumes, deletedAt: new Date() });
      await em.flush();
      await em.nativeDelete(Deployment, { id: deployment.id });
      await this.hub.bus.publish(em, 'targetsChanged', { targetIds: [targetId] });
    });
    return id;
  }

  /**
   * Move every deployment of an application (optionally only on some targets) to a version, in
   * one transaction: one revision each, one notification for all touched targets.
   */
  async rollout(applicationId: string, versionId: string, targetIds?: string[] | null): Promise<Deployment[]> {
    return this.em.transactional(async (em) => {
      const app = await findOwned(em, Application, 'application', applicationId, { organization: this.actor.organizationId });
      const version = await this.usableVersion(em, versionId);
      if (version.application.id !== app.id) {
        throw new RuleViolationError('version_of_other_application', `version "${version.name}" does not belong to application "${app.name}"`);
      }
      for (const t of targetIds ?? []) if (!isUuid(t)) throw new NotFoundError('deployment target', t);
      // Every deployment must be able to render the new version's secrets on its own target.
      const current = await em.find(
        Deployment,
        { application: app.id, organization: this.actor.organizationId, ...(targetIds ? { target: { $in: targetIds } } : {}) },
        { populate: ['currentRevision', 'target'] },
      );
      for (const d of current) {
        const names = referencedSecrets(version, d.currentRevision?.envFile ?? null, d.currentRevision?.valuesYaml ?? null, 'versionId');
        await requireSecretsDefined(em, this.hub, this.actor.organizationId, d.target, names, 'versionId');
      }
      // And each env file must set what the new version's compose file requires.
      await requireConfigurationsFit(version, current.map((d) => ({ id: d.id, targetName: d.target.name, envFile: d.currentRevision?.envFile ?? null })));
      // Set-based: one statement appends a revision to every matching deployment and moves its
      // pointer, however many there are (a rollout to 1 000 targets stays one round trip).
      const moved: { id: string; target_id: string }[] = await em.execute(
        `with appended as (
           insert into deployment_revision (id, deployment_id, version_id, env_file, values_yaml, force_restart, created_by, created_at)
           select gen_random_uuid(), d.id, ?, r.env_file, r.values_yaml, false, ?, clock_timestamp()
           from deployment d join deployment_revision r on r.id = d.current_revision_id
           where d.application_id = ? and d.organization_id = ?${targetIds ? ' and d.target_id in (?)' : ''}
           returning id, deployment_id)
         update deployment d set current_revision_id = appended.id from appended
         where d.id = appended.deployment_id returning d.id, d.target_id`,
        [version.id, this.actor.label, app.id, this.actor.organizationId, ...(targetIds ? [targetIds.length > 0 ? targetIds : ['00000000-0000-0000-0000-000000000000']] : [])],
      );
      await this.hub.bus.publish(em, 'targetsChanged', { targetIds: moved.map((d) => d.target_id) });
      const deployments = moved.length > 0 ? await em.find(Deployment, { id: { $in: moved.map((d) => d.id) } }, { orderBy: { createdAt: 'asc', id: 'asc' } }) : [];
      return deployments;
    });
  }
}
