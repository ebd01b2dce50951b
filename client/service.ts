/**
 * DistrService: the vendor SDK over the generated graphql-request client. Mutations return the
 * success object or throw the hub's typed error as a DistrError subclass; transport and auth
 * failures throw DistrRequestError.
 */
import { GraphQLClient } from 'graphql-request';
import {
  DistrAmbiguousError,
  DistrInvalidInputError,
  DistrNotFoundError,
  DistrRequestError,
  requestErrorFrom,
  typedErrorToException,
  type HubTypedError,
} from './errors.js';
import { checked, schemas } from './inputs.js';
import { getSdk, type Sdk } from './generated/graphql.js';
import type {
  ApiKey,
  Application,
  ApplicationVersion,
  ApplicationWithVersions,
  CreateDeploymentRequest,
  CreatedApiKey,
  Deployment,
  DeploymentLogLine,
  DeploymentLogStream,
  DeploymentStatusWatch,
  DeploymentTarget,
  DeploymentTargetAccess,
  DeploymentType,
  DistrServiceOptions,
  DockerVersionContent,
  KubernetesVersionContent,
  NewApiKey,
  NewDeploymentTarget,
  RolloutResult,
  UpdateDeploymentRequest,
  VersionOrder,
  ValidationResult,
  ComposeType,
} from './types.js';
import { isBehind, latestVersion } from './versions.js';
import { followDeploymentLogs, watchDeploymentStatus, type FollowLogsOptions, type WatchOptions } from './watch.js';
import { RolloutsClient } from './rollouts.js';

const TYPED_ERRORS = new Set(['NotFoundError', 'InvalidInputError', 'RuleViolationError', 'ConflictError']);
/** The hub's largest page (Pothos relay default). */
const PAGE_SIZE = 100;

type Typed = { __typename: string };
type Success<R extends Typed, N extends string> = Omit<Extract<R, { __typename: N }>, '__typename'>;

/** The success member of a mutation's result union, or the typed error thrown as a DistrError. */
function unwrap<R extends Typed, N extends R['__typename'] & string>(result: R, typename: N): Success<R, N> {
  if (result.__typename === typename) {
    const { __typename: _typename, ...success } = result;
    return success as Success<R, N>;
  }
  if (TYPED_ERRORS.has(result.__typename)) throw typedErrorToException(result as unknown as HubTypedError);
  throw new DistrRequestError(`unexpected result type ${result.__typename}`, 'UNEXPECTED_RESULT');
}

async function allPages<T>(fetchPage: (after: string | null) => Promise<{ nodes: T[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>): Promise<T[]> {
  const items: T[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await fetchPage(after);
    items.push(...page.nodes);
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return items;
    after = page.pageInfo.endCursor;
  }
}

export class DistrService {
  readonly hubUrl: string;
  /** The GraphQL endpoint (`<hubUrl>/graphql`). */
  readonly endpoint: string;
  private readonly apiKey: string;
  private readonly sdk: Sdk;
  /** Staged rollouts, rollback, target labels and maintenance windows. */
  readonly rollouts: RolloutsClient;

  constructor(options: DistrServiceOptions = {}) {
    const hubUrl = options.hubUrl ?? process.env.DISTR_HUB_URL;
    const apiKey = options.apiKey ?? process.env.DISTR_API_KEY;
    if (!hubUrl) throw new TypeError('DistrService needs hubUrl (or $DISTR_HUB_URL)');
    if (!apiKey) throw new TypeError('DistrService needs apiKey (or $DISTR_API_KEY)');
    this.hubUrl = hubUrl.replace(/\/+$/, '').replace(/\/graphql$/, '');
    this.endpoint = `${this.hubUrl}/graphql`;
    this.apiKey = apiKey;
    const client = new GraphQLClient(this.endpoint, { headers: { authorization: `Bearer ${apiKey}` } });
    // Every generated call goes through here: graphql-request's errors become DistrRequestError.
    this.sdk = getSdk(client, async (action) => {
      try {
        return await action();
      } catch (err) {
        throw requestErrorFrom(err, this.hubUrl);
      }
    });
    this.rollouts = new RolloutsClient(this.sdk, this.endpoint, apiKey, unwrap, allPages);
  }

  // ---- applications and versions ----

  async createApplication(request: { name: string; type: DeploymentType }): Promise<Application> {
    const input = checked('createApplication', '', schemas.createApplication, request);
    return unwrap((await this.sdk.CreateApplication({ input })).createApplication, 'Application');
  }

  async listApplications(): Promise<Application[]> {
    return allPages(async (after) => (await this.sdk.Applications({ first: PAGE_SIZE, after })).applications);
  }

  /** The application with all its versions (oldest first, archived included). */
  async getApplication(id: string): Promise<ApplicationWithVersions> {
    checked('getApplication', 'id', schemas.id, id);
    return this.notFoundAs('application', id, async () => (await this.sdk.Application({ id })).application);
  }

  async createDockerApplicationVersion(applicationId: string, name: string, content: DockerVersionContent): Promise<ApplicationVersion> {
    checked('createDockerApplicationVersion', 'applicationId', schemas.id, applicationId);
    checked('createDockerApplicationVersion', 'name', schemas.name, name);
    checked('createDockerApplicationVersion', 'content', schemas.dockerVersionContent, content);
    const result = await this.sdk.CreateDockerApplicationVersion({ input: { applicationId, name, ...content } });
    return unwrap(result.createDockerApplicationVersion, 'ApplicationVersion');
  }

  async createKubernetesApplicationVersion(applicationId: string, name: string, content: KubernetesVersionContent): Promise<ApplicationVersion> {
    checked('createKubernetesApplicationVersion', 'applicationId', schemas.id, applicationId);
    checked('createKubernetesApplicationVersion', 'name', schemas.name, name);
    checked('createKubernetesApplicationVersion', 'content', schemas.kubernetesVersionContent, content);
    const result = await this.sdk.CreateKubernetesApplicationVersion({ input: { applicationId, name, ...content } });
    return unwrap(result.createKubernetesApplicationVersion, 'ApplicationVersion');
  }

  /** The checks createDocker/KubernetesApplicationVersion would run, without creating anything. */
  async validateApplicationVersion(applicationId: string, content: DockerVersionContent | KubernetesVersionContent): Promise<ValidationResult> {
    checked('validateApplicationVersion', 'applicationId', schemas.id, applicationId);
    const result = await this.sdk.ValidateApplicationVersion({ input: { applicationId, ...content } });
    return unwrap(result.validateApplicationVersion, 'ValidationResult');
  }

  /** The checks createDeployment would run (env file against the compose file, values against the chart's schema). */
  async validateDeployment(input: { targetId: string; versionId: string; composeType?: ComposeType; envFile?: string; releaseName?: string; valuesYaml?: string }): Promise<ValidationResult> {
    checked('validateDeployment', 'targetId', schemas.id, input.targetId);
    checked('validateDeployment', 'versionId', schemas.id, input.versionId);
    return unwrap((await this.sdk.ValidateDeployment({ input })).validateDeployment, 'ValidationResult');
  }

  /** The troubleshooting checks of an existing deployment's current configuration. */
  async checkDeployment(id: string): Promise<ValidationResult> {
    checked('checkDeployment', 'id', schemas.id, id);
    return unwrap((await this.sdk.CheckDeployment({ id })).checkDeployment, 'ValidationResult');
  }

  async archiveApplicationVersion(id: string, archived = true): Promise<ApplicationVersion> {
    checked('archiveApplicationVersion', 'id', schemas.id, id);
    checked('archiveApplicationVersion', 'archived', schemas.archived, archived);
    return unwrap((await this.sdk.ArchiveApplicationVersion({ id, archived })).archiveApplicationVersion, 'ApplicationVersion');
  }

  /** The latest non-archived version; in semver mode names that are not semantic versions are skipped. */
  async getLatestVersion(applicationId: string, order: VersionOrder = 'semver'): Promise<ApplicationVersion | null> {
    checked('getLatestVersion', 'order', schemas.versionOrder, order);
    const app = await this.getApplication(applicationId);
    return latestVersion(app.versions, order);
  }

  // ---- deployment targets ----

  async createDeploymentTarget(target: NewDeploymentTarget): Promise<DeploymentTarget> {
    checked('createDeploymentTarget', '', schemas.newDeploymentTarget, target);
    const namespace = target.namespace ?? target.kubernetes?.namespace;
    const scope = target.scope ?? target.kubernetes?.scope ?? (target.type === 'kubernetes' ? 'namespace' : undefined);
    const input = { name: target.name, type: target.type, namespace, scope, logsEnabled: target.logsEnabled };
    return unwrap((await this.sdk.CreateDeploymentTarget({ input })).createDeploymentTarget, 'DeploymentTarget');
  }

  async listDeploymentTargets(): Promise<DeploymentTarget[]> {
    return allPages(async (after) => (await this.sdk.DeploymentTargets({ first: PAGE_SIZE, after })).deploymentTargets);
  }

  async getDeploymentTarget(id: string): Promise<DeploymentTarget> {
    checked('getDeploymentTarget', 'id', schemas.id, id);
    return this.notFoundAs('deployment target', id, async () => (await this.sdk.DeploymentTarget({ id })).deploymentTarget);
  }

  /** Create (or rotate) the agent credential; the secret and install command are shown only here. */
  async createAccessForDeploymentTarget(targetId: string): Promise<DeploymentTargetAccess> {
    checked('createAccessForDeploymentTarget', 'targetId', schemas.id, targetId);
    const access = unwrap((await this.sdk.CreateDeploymentTargetAccess({ targetId })).createDeploymentTargetAccess, 'DeploymentTargetAccess');
    // `token` is the product document's name for the secret; not enumerable, so JSON shows the secret once.
    return Object.defineProperty({ ...access }, 'token', { value: access.secret, enumerable: false }) as DeploymentTargetAccess;
  }

  async deleteDeploymentTarget(id: string): Promise<void> {
    checked('deleteDeploymentTarget', 'id', schemas.id, id);
    unwrap((await this.sdk.DeleteDeploymentTarget({ id })).deleteDeploymentTarget, 'Deleted');
  }

  // ---- deployments ----

  /**
   * Deploy a version to a target; with `target` as an object the target is created first (and
   * deleted again when the deployment is refused, so a failed call leaves nothing behind).
   */
  async createDeployment(request: CreateDeploymentRequest): Promise<Deployment> {
    checked('createDeployment', '', schemas.createDeployment, request);
    if (request.target) checked('createDeployment', 'target', schemas.newDeploymentTarget, request.target);
    const created = request.target ? await this.createDeploymentTarget(request.target) : null;
    const targetId = created?.id ?? request.targetId ?? request.deploymentTargetId!;
    try {
      const result = await this.sdk.CreateDeployment({
        input: {
          targetId,
          versionId: request.application.versionId,
          docker: request.dockerDeployment,
          kubernetes: request.kubernetesDeployment,
        },
      });
      return unwrap(result.createDeployment, 'Deployment');
    } catch (err) {
      if (created) await this.deleteDeploymentTarget(created.id).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Switch version and/or configuration: appends a revision the agent applies. The deployment is
   * `deploymentId`, or the one deployment on `deploymentTargetId` of the version's application.
   */
  async updateDeployment(request: UpdateDeploymentRequest): Promise<Deployment> {
    checked('updateDeployment', '', schemas.updateDeployment, request);
    const deploymentId = await this.deploymentFor(request);
    const input = {
      versionId: request.application?.versionId,
      envFile: request.dockerDeployment?.envFile,
      valuesYaml: request.kubernetesDeployment?.valuesYaml,
      helmOptions: request.kubernetesDeployment?.helmOptions,
    };
    return unwrap((await this.sdk.UpdateDeployment({ id: deploymentId, input })).updateDeployment, 'Deployment');
  }

  /** The deployment an update means: by id (checked against the target when both are given), or the target's one fitting deployment. */
  private async deploymentFor(request: UpdateDeploymentRequest): Promise<string> {
    const versionId = request.application?.versionId;
    if (request.deploymentId) {
      if (request.deploymentTargetId) {
        const deployment = await this.getDeployment(request.deploymentId);
        if (deployment.deploymentTarget.id !== request.deploymentTargetId) {
          throw new DistrInvalidInputError(
            `updateDeployment: deploymentTargetId: deployment ${request.deploymentId} is on target ${deployment.deploymentTarget.id}, not ${request.deploymentTargetId}`,
            'deploymentTargetId',
          );
        }
      }
      return request.deploymentId;
    }
    const targetId = request.deploymentTargetId!;
    const target = await this.getDeploymentTarget(targetId);
    const onTarget = await this.listDeployments({ targetId });
    let fitting = onTarget;
    let what = 'deployment';
    if (versionId) {
      const version = await this.notFoundAs('application version', versionId, async () => (await this.sdk.ApplicationVersion({ id: versionId })).applicationVersion);
      fitting = onTarget.filter((d) => d.application.id === version.application.id);
      what = `deployment of application "${version.application.name}"`;
    }
    if (fitting.length === 1) return fitting[0]!.id;
    if (fitting.length === 0) {
      throw new DistrNotFoundError(`deployment target "${target.name}" holds no ${what}`, 'deployment', targetId);
    }
    const candidates = fitting.map((d) => ({
      deploymentId: d.id,
      applicationName: d.application.name,
      versionName: d.currentRevision.version.name,
      releaseName: d.releaseName ?? null,
    }));
    const list = candidates.map((c) => `${c.deploymentId} (${c.applicationName} ${c.versionName}${c.releaseName ? `, release ${c.releaseName}` : ''})`).join(', ');
    throw new DistrAmbiguousError(`deployment target "${target.name}" holds ${fitting.length} ${what.replace(/^deployment/, 'deployments')}: ${list}; pass deploymentId to choose one`, candidates);
  }

  /** Move every deployment of the application to the version, in one transaction on the hub. */
  async updateAllDeployments(applicationId: string, versionId: string, targetIds?: string[]): Promise<RolloutResult> {
    checked('updateAllDeployments', 'applicationId', schemas.id, applicationId);
    checked('updateAllDeployments', 'versionId', schemas.id, versionId);
    checked('updateAllDeployments', 'targetIds', schemas.targetIds, targetIds);
    const result = await this.sdk.RolloutApplicationVersion({ applicationId, versionId, targetIds });
    return unwrap(result.rolloutApplicationVersion, 'RolloutResult');
  }

  async getDeployment(id: string): Promise<Deployment> {
    checked('getDeployment', 'id', schemas.id, id);
    return this.notFoundAs('deployment', id, async () => (await this.sdk.Deployment({ id })).deployment);
  }

  async listDeployments(filter: { applicationId?: string; targetId?: string } = {}): Promise<Deployment[]> {
    checked('listDeployments', 'filter', schemas.deploymentFilter, filter);
    return allPages(async (after) => (await this.sdk.Deployments({ first: PAGE_SIZE, after, ...filter })).deployments);
  }

  /**
   * Whether a newer non-archived version than the deployment's current one exists: by semver when
   * the names are semantic versions, otherwise by creation time.
   */
  async isOutdated(deploymentId: string): Promise<boolean> {
    const deployment = await this.getDeployment(deploymentId);
    const app = await this.getApplication(deployment.application.id);
    return isBehind(deployment.currentRevision.version, app.versions).outdated;
  }

  async forceRestart(deploymentId: string): Promise<Deployment> {
    checked('forceRestart', 'deploymentId', schemas.id, deploymentId);
    return unwrap((await this.sdk.ForceRestartDeployment({ id: deploymentId })).forceRestartDeployment, 'Deployment');
  }

  /** Undeploy; docker named volumes are kept unless removeVolumes. */
  async deleteDeployment(deploymentId: string, options: { removeVolumes?: boolean } = {}): Promise<void> {
    checked('deleteDeployment', 'deploymentId', schemas.id, deploymentId);
    checked('deleteDeployment', 'options', schemas.deleteDeploymentOptions, options);
    unwrap((await this.sdk.DeleteDeployment({ id: deploymentId, removeVolumes: options.removeVolumes ?? false })).deleteDeployment, 'Deleted');
  }

  /** Status transitions as they commit (one deployment's, or the organization's); `close()` when done. */
  watchDeploymentStatus(deploymentId?: string, options: Omit<WatchOptions, 'deploymentId'> = {}): DeploymentStatusWatch {
    if (deploymentId !== undefined) checked('watchDeploymentStatus', 'deploymentId', schemas.id, deploymentId);
    return watchDeploymentStatus(this.endpoint, this.apiKey, { ...options, deploymentId });
  }

  /** The newest stored log lines of a deployment (oldest first). */
  async deploymentLogs(deploymentId: string, options: { limit?: number; since?: Date } = {}): Promise<DeploymentLogLine[]> {
    const data = await this.notFoundAs('deployment', deploymentId, () =>
      this.sdk.DeploymentLogs({ id: deploymentId, limit: options.limit ?? 200, since: options.since?.toISOString() ?? null }),
    );
    return data.deployment.logs;
  }

  /** Follow a deployment's log: the recent lines, then each new one as it is stored; `close()` when done. */
  followDeploymentLogs(deploymentId: string, options: FollowLogsOptions = {}): DeploymentLogStream {
    return followDeploymentLogs(this.endpoint, this.apiKey, deploymentId, options);
  }

  // ---- API keys (admin) ----

  /** The organization's API keys, revoked and expired ones included (secrets are never shown again). */
  async listApiKeys(): Promise<ApiKey[]> {
    return (await this.sdk.ApiKeys()).apiKeys;
  }

  /** A new key for the caller; its secret is in the result only. */
  async createApiKey(request: NewApiKey): Promise<CreatedApiKey> {
    const input = checked('createApiKey', '', schemas.createApiKey, request);
    const expiresAt = input.expiresAt instanceof Date ? input.expiresAt.toISOString() : input.expiresAt;
    return unwrap((await this.sdk.CreateApiKey({ name: input.name, roleCap: input.roleCap, expiresAt })).createApiKey, 'CreatedApiKey');
  }

  /** Revoke a key: it stops working at once (revoking twice is fine). */
  async revokeApiKey(id: string): Promise<ApiKey> {
    checked('revokeApiKey', 'id', schemas.id, id);
    return unwrap((await this.sdk.RevokeApiKey({ id })).revokeApiKey, 'ApiKey');
  }

  /** An API key by id, or by name among the keys not revoked (names need not be unique over time). */
  async resolveApiKey(idOrName: string): Promise<ApiKey> {
    const keys = await this.listApiKeys();
    return keys.find((k) => k.id === idOrName) ?? pickByIdOrName(keys.filter((k) => !k.revokedAt), idOrName, 'API key');
  }

  // ---- names or ids (for the CLI and scripts) ----

  /** An application by id or by (unique) name. */
  async resolveApplication(idOrName: string): Promise<Application> {
    return pickByIdOrName(await this.listApplications(), idOrName, 'application');
  }

  async resolveDeploymentTarget(idOrName: string): Promise<DeploymentTarget> {
    return pickByIdOrName(await this.listDeploymentTargets(), idOrName, 'deployment target');
  }

  /** A version of the application by id or name. */
  async resolveVersion(applicationId: string, idOrName: string): Promise<ApplicationVersion> {
    const app = await this.getApplication(applicationId);
    return pickByIdOrName(app.versions, idOrName, 'application version');
  }

  /** Queries answer an unknown id with a NOT_FOUND GraphQL error; surface it like the mutations' typed error. */
  private async notFoundAs<T>(entity: string, id: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof DistrRequestError && err.code === 'NOT_FOUND') throw new DistrNotFoundError(err.message, entity, id);
      throw err;
    }
  }
}

function pickByIdOrName<T extends { id: string; name: string }>(items: readonly T[], idOrName: string, entity: string): T {
  const byId = items.find((i) => i.id === idOrName);
  if (byId) return byId;
  const byName = items.filter((i) => i.name === idOrName);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) throw new DistrNotFoundError(`${entity} name "${idOrName}" is ambiguous: use its id`, entity, idOrName);
  throw new DistrNotFoundError(`${entity} ${idOrName} not found`, entity, idOrName);
}
