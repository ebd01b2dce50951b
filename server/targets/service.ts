import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, VendorPrincipal } from '../context.js';
import { ConflictError, InvalidInputError, RuleViolationError } from '../errors.js';
import { findOwned, flushOrConflict } from '../scoping.js';
import { requireDns1123Label, requireName } from '../validation.js';
import type { DeploymentType } from '../applications/entities.js';
import { hashSecret, newSecret } from '../auth/secrets.js';
import { AgentConnection, DeploymentTarget, type TargetScope } from './entities.js';
import { hubUrlWarning, installInstructions } from './install.js';
import { matchesSelector, parseSelector, validateLabels } from '../labels/labels.js';
import { validateTimeZone, validateWindows } from '../rollouts/windows.js';

/** Labels and maintenance windows as the API takes them. */
export interface TargetPlacementInput {
  labels?: { key: string; value: string }[] | null;
  timeZone?: string | null;
  maintenanceWindows?: { days: string[]; start: string; end: string }[] | null;
}

function placement(input: TargetPlacementInput): Partial<Pick<DeploymentTarget, 'labels' | 'timeZone' | 'maintenanceWindows'>> {
  const out: Partial<Pick<DeploymentTarget, 'labels' | 'timeZone' | 'maintenanceWindows'>> = {};
  if (input.labels != null) out.labels = validateLabels('labels', input.labels);
  if (input.timeZone != null) out.timeZone = validateTimeZone('timeZone', input.timeZone);
  if (input.maintenanceWindows != null) out.maintenanceWindows = validateWindows('maintenanceWindows', input.maintenanceWindows);
  return out;
}

export interface TargetAccess {
  target: DeploymentTarget;
  secret: string;
  hubUrl: string;
  installCommand: string;
  installComposeFile: string | null;
  warnings: string[];
}

/** Seconds without a heartbeat after which a connection row no longer counts as connected. */
export const CONNECTION_STALE_SECONDS = 45;

export class TargetService {
  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
    private readonly hub: HubRuntime,
  ) {}

  getTarget(id: string): Promise<DeploymentTarget> {
    return findOwned(this.em, DeploymentTarget, 'deployment target', id, { organization: this.actor.organizationId });
  }

  async listTargets(limit: number, offset: number, type?: DeploymentType | null, selector?: string | null, nameContains?: string | null): Promise<DeploymentTarget[]> {
    // LIKE's wildcards in the text are matched literally.
    const like = nameContains ? `%${nameContains.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
    const where = { organization: this.actor.organizationId, ...(type ? { type } : {}), ...(like ? { name: { $ilike: like } } : {}) };
    const orderBy = { createdAt: 'asc', id: 'asc' } as const;
    if (!selector) return this.em.find(DeploymentTarget, where, { orderBy, limit, offset });
    // Labels are matched in code (one parser and matcher for the API and rollouts).
    const parsed = parseSelector('selector', selector);
    const all = await this.em.find(DeploymentTarget, where, { orderBy });
    return all.filter((t) => matchesSelector(parsed, t.labels ?? {})).slice(offset, offset + limit);
  }

  async createTarget(input: {
    name: string;
    type: DeploymentType;
    namespace?: string | null;
    scope?: TargetScope | null;
    logsEnabled?: boolean | null;
  } & TargetPlacementInput): Promise<DeploymentTarget> {
    const name = requireName('name', input.name);
    let namespace: string | null = null;
    let scope: TargetScope | null = null;
    if (input.type === 'kubernetes') {
      if (!input.namespace) throw new InvalidInputError('namespace', 'is required for kubernetes targets');
      if (!input.scope) throw new InvalidInputError('scope', 'is required for kubernetes targets (namespace or cluster)');
      namespace = requireDns1123Label('namespace', input.namespace, 63);
      scope = input.scope;
    } else {
      if (input.namespace) throw new InvalidInputError('namespace', 'only kubernetes targets have a namespace');
      if (input.scope) throw new InvalidInputError('scope', 'only kubernetes targets have a scope');
    }
    const target = this.em.create(DeploymentTarget, {
      organization: this.actor.organizationId,
      name,
      type: input.type,
      namespace,
      scope,
      logsEnabled: input.logsEnabled ?? false,
      ...placement(input),
    });
    await flushOrConflict(this.em, () => new ConflictError('name', `a deployment target named "${name}" already exists`));
    return target;
  }

  async updateTarget(id: string, input: { name?: string | null; logsEnabled?: boolean | null } & TargetPlacementInput): Promise<DeploymentTarget> {
    return this.em.transactional(async (em) => {
      const target = await findOwned(em, DeploymentTarget, 'deployment target', id, { organization: this.actor.organizationId });
      if (input.name != null) target.name = requireName('name', input.name);
      const changed = placement(input);
      Object.assign(target, changed);
      // Rollouts waiting on this target's window re-plan at once.
      if (changed.maintenanceWindows !== undefined || changed.timeZone !== undefined) await this.hub.bus.publish(em, 'rolloutsChanged', { organizationId: this.actor.organizationId, rolloutIds: ['*'] });
      if (input.logsEnabled != null && input.logsEnabled !== target.logsEnabled) {
        target.logsEnabled = input.logsEnabled;
        // Log streaming is part of what the agent runs: it needs the new desired state.
        await this.hub.bus.publish(em, 'targetsChanged', { targetIds: [target.id] });
      }
      await flushOrConflict(em, () => new ConflictError('name', `a deployment target named "${target.name}" already exists`));
      return target;
    });
  }

  async deleteTarget(id: string): Promise<string> {
    const target = await this.getTarget(id);
    const deployments = await this.em.count('Deployment', { target: target.id });
    if (deployments > 0) {
      throw new RuleViolationError('target_in_use', `deployment target "${target.name}" still has ${deployments} deployment(s); delete them first`);
    }
    await this.em.transactional(async (em) => {
      await em.nativeDelete(DeploymentTarget, { id: target.id });
      // Connected agents of a deleted target lose their credential at once.
      await this.hub.bus.publish(em, 'credentialRotated', { targetId: target.id, generation: Number.MAX_SAFE_INTEGER });
    });
    return id;
  }

  /**
   * Create or rotate the agent credential. The generation moves on, so every token issued for
   * the old secret dies at once, and connected agents of this target are disconnected.
   */
  async createAccess(id: string): Promise<TargetAccess> {
    const secret = newSecret();
    const target = await this.em.transactional(async (em) => {
      const t = await findOwned(em, DeploymentTarget, 'deployment target', id, { organization: this.actor.organizationId });
      t.credentialHash = hashSecret(secret);
      t.credentialGeneration += 1;
      await em.flush();
      await this.hub.bus.publish(em, 'credentialRotated', { targetId: t.id, generation: t.credentialGeneration });
      return t;
    });
    const hubUrl = publicHubUrl(this.hub.env);
    const install = installInstructions(target, hubUrl, this.hub.env.DISTR_DOCKER_AGENT_IMAGE);
    const warning = hubUrlWarning(hubUrl, this.hub.env.DISTR_PUBLIC_URL !== undefined);
    return { target, secret, hubUrl, installCommand: install.command, installComposeFile: install.composeFile, warnings: warning ? [warning] : [] };
  }
}

/** The URL install commands give agents: DISTR_PUBLIC_URL, else this hub's own port on localhost. */
export function publicHubUrl(env: { DISTR_PUBLIC_URL?: string; PORT: number }): string {
  return (env.DISTR_PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
}

/** Which of these targets have a live agent socket on any hub replica. */
export async function connectedTargetIds(em: EntityManager, targetIds: readonly string[]): Promise<Set<string>> {
  if (targetIds.length === 0) return new Set();
  const since = new Date(Date.now() - CONNECTION_STALE_SECONDS * 1000);
  const rows = await em.find(AgentConnection, { target: { $in: [...targetIds] }, heartbeatAt: { $gte: since } }, { fields: ['target'] });
  return new Set(rows.map((r) => r.target.id));
}
