import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubRuntime, VendorPrincipal } from '../context.js';
import { NotFoundError, RuleViolationError } from '../errors.js';
import { findOwned, isUuid } from '../scoping.js';
import { Deployment, DeploymentRevision } from '../deployments/entities.js';
import { appendCopiesOf } from './revisions.js';

const sameContent = (a: DeploymentRevision, b: DeploymentRevision) =>
  a.version.id === b.version.id && (a.envFile ?? null) === (b.envFile ?? null) && (a.valuesYaml ?? null) === (b.valuesYaml ?? null);

/**
 * Make an earlier revision current again, as a new revision (revisions stay append-only): the
 * given one, or by default the newest earlier revision whose content differs from the current.
 */
export async function rollbackDeployment(em: EntityManager, actor: VendorPrincipal, hub: HubRuntime, deploymentId: string, revisionId?: string | null): Promise<Deployment> {
  return em.transactional(async (tx) => {
    const deployment = await findOwned(tx, Deployment, 'deployment', deploymentId, { organization: actor.organizationId }, ['currentRevision']);
    const current = deployment.currentRevision!;
    let target: DeploymentRevision | null;
    if (revisionId) {
      target = isUuid(revisionId) ? await tx.findOne(DeploymentRevision, { id: revisionId, deployment: deployment.id }, { populate: ['version'] }) : null;
      if (!target) throw new NotFoundError('deployment revision', revisionId);
      if (target.id === current.id) throw new RuleViolationError('revision_is_current', `revision ${target.id} is already the current revision of this deployment`);
    } else {
      const earlier = await tx.find(
        DeploymentRevision,
        { deployment: deployment.id, createdAt: { $lte: current.createdAt }, id: { $ne: current.id } },
        { orderBy: { createdAt: 'desc', id: 'desc' }, populate: ['version'], limit: 200 },
      );
      target = earlier.find((r) => !sameContent(r, current)) ?? null;
      if (!target) throw new RuleViolationError('no_earlier_revision', 'this deployment has no earlier revision with different content to roll back to');
    }
    if (target.version.archivedAt) {
      throw new RuleViolationError('version_archived', `revision ${target.id} uses version "${target.version.name}", which is archived; unarchive it to roll back to it`);
    }
    const [moved] = await appendCopiesOf(tx, [{ deploymentId: deployment.id, revisionId: target.id }], `${actor.label} (rollback to ${target.id})`);
    await hub.bus.publish(tx, 'targetsChanged', { targetIds: [moved!.targetId] });
    tx.clear();
    return tx.findOneOrFail(Deployment, { id: deployment.id });
  });
}
