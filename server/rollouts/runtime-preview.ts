/**
 * Runtime previews, the vendor's side: ask a deployment's agent what the runtime would do with a
 * candidate configuration (docker: the normalized `docker compose config` against the running
 * project). The request is a row the agent's desired state carries until the agent answers or
 * it expires; nothing else waits on it, so it never blocks updates. The candidate is stored as a
 * revision would be (secret references, never values). Agent side: server/agents/preview-requests.ts.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, VendorPrincipal } from '../context.js';
import { InvalidInputError, RuleViolationError } from '../errors.js';
import { findOwned } from '../scoping.js';
import { Deployment } from '../deployments/entities.js';
import type { ApplicationVersion } from '../applications/entities.js';
import { publishChange } from '../agents/preview-requests.js';
import { DeploymentService, type UpdateDeploymentInput } from '../deployments/service.js';
import { requireSecretsDefined, revisionReferences } from '../secrets/service.js';
import type { CheckSettings } from '../validation/checks.js';
import { RuntimePreview, type RuntimePreviewState } from './entities.js';

export const DEFAULT_PREVIEW_EXPIRY_SECONDS = 600;
const MIN_EXPIRY_SECONDS = 10;
const MAX_EXPIRY_SECONDS = 3600;
/** Pending requests one deployment may have at once. */
export const MAX_PENDING_PER_DEPLOYMENT = 5;

/** The state as a reader sees it: a pending request past its expiry is expired. */
export function effectiveState(p: Pick<RuntimePreview, 'state' | 'expiresAt'>, now = Date.now()): RuntimePreviewState {
  return p.state === 'pending' && p.expiresAt.getTime() <= now ? 'expired' : p.state;
}

export class RuntimePreviewService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
    private readonly hub: HubRuntime,
    private readonly checks: CheckSettings,
  ) {}

  get(id: string, em: EntityManager = this.em): Promise<RuntimePreview> {
    return findOwned(em, RuntimePreview, 'runtime preview', id, { organization: this.actor.organizationId });
  }

  async listForDeployment(deploymentId: string, limit: number): Promise<RuntimePreview[]> {
    await findOwned(this.em, Deployment, 'deployment', deploymentId, { organization: this.actor.organizationId });
    return this.em.find(RuntimePreview, { organization: this.actor.organizationId, deployment: deploymentId }, { orderBy: { requestedAt: 'desc', id: 'desc' }, limit });
  }

  /**
   * Ask the deployment's agent for a runtime preview of what updateDeployment(id, input) would
   * make current. The typed errors of updateDeployment for bad input; nothing written then.
   */
  async request(deploymentId: string, input: UpdateDeploymentInput, expiresInSeconds: number | null): Promise<RuntimePreview> {
    const seconds = expiresInSeconds ?? DEFAULT_PREVIEW_EXPIRY_SECONDS;
    if (!Number.isInteger(seconds) || seconds < MIN_EXPIRY_SECONDS || seconds > MAX_EXPIRY_SECONDS) {
      throw new InvalidInputError('expiresInSeconds', `must be a whole number of seconds from ${MIN_EXPIRY_SECONDS} to ${MAX_EXPIRY_SECONDS}`);
    }
    return this.em.transactional(async (em) => {
      const deployments = new DeploymentService(em, this.actor, this.hub, this.checks);
      const deployment = await deployments.getDeployment(deploymentId, em);
      await em.populate(deployment, ['currentRevision', 'currentRevision.version', 'application', 'target']);
      const next = await deployments.resolveUpdate(em, deployment, input);
      const version = next.version as ApplicationVersion;
      const docker = deployment.composeType !== null;
      const field = docker ? 'envFile' : 'valuesYaml';
      const names = revisionReferences({
        compose_type: deployment.composeType ?? null,
        env_template: version.envTemplate ?? null,
        env_file: next.envFile ?? null,
        base_values: version.baseValues ?? null,
        values_yaml: next.valuesYaml ?? null,
      });
      await requireSecretsDefined(em, this.hub, this.actor.organizationId, deployment.target, names, field);
      const pending = await em.count(RuntimePreview, { deployment: deployment.id, state: 'pending', expiresAt: { $gt: new Date() } });
      if (pending >= MAX_PENDING_PER_DEPLOYMENT) {
        throw new RuleViolationError('too_many_pending_previews', `deployment ${deployment.id} already has ${pending} pending runtime previews; wait for them to be answered or expire`);
      }
      const now = new Date();
      const preview = em.create(RuntimePreview, {
        organization: this.actor.organizationId,
        deployment,
        target: deployment.target,
        version,
        envFile: docker ? (next.envFile ?? null) : null,
        valuesYaml: docker ? null : (next.valuesYaml ?? null),
        state: 'pending',
        requestedBy: this.actor.label,
        requestedAt: now,
        expiresAt: new Date(now.getTime() + seconds * 1000),
      });
      await em.flush();
      await publishChange(em, this.hub, preview);
      return preview;
    });
  }
}
