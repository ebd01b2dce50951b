import type { EntityManager } from '@mikro-orm/postgresql';
import deepmerge from 'deepmerge';
import { parse as parseYaml } from 'yaml';
import dotenv from 'dotenv';
import type { DesiredDeployment, DesiredState } from '../../agent/core/protocol.js';
import { DeletedDeployment, Deployment, DeploymentRevision } from '../deployments/entities.js';
import { DeploymentTarget } from '../targets/entities.js';
import { formatEnvFile } from '../validation.js';

/** Tombstones older than this are no longer sent: an agent offline longer keeps the data. */
const TOMBSTONE_DAYS = 7;

/** Compose project / stack name of a deployment: stable for its whole life, unique per host. */
export function projectName(deploymentId: string): string {
  return `distr-${deploymentId.replace(/-/g, '').slice(0, 12)}`;
}

/** Version base values deep-merged with the revision's values (arrays replaced, not concatenated). */
export function mergeValues(baseValues: string | null, revisionValues: string | null): Record<string, unknown> {
  const base = (parseYaml(baseValues ?? '') ?? {}) as Record<string, unknown>;
  const own = (parseYaml(revisionValues ?? '') ?? {}) as Record<string, unknown>;
  return deepmerge(base, own, { arrayMerge: (_target, source) => source });
}

/** The version's .env template with the deployment's entries layered on top. */
export function renderEnvFile(template: string | null, envFile: string | null): string {
  return formatEnvFile({ ...dotenv.parse(template ?? ''), ...dotenv.parse(envFile ?? '') });
}

/**
 * The whole desired state of each given target, in a fixed number of queries however many
 * targets are asked for (a rollout touching 1 000 targets loads them together).
 */
export async function loadDesiredStates(em: EntityManager, targetIds: readonly string[]): Promise<Map<string, DesiredState>> {
  const ids = [...new Set(targetIds)];
  const states = new Map<string, DesiredState>();
  if (ids.length === 0) return states;
  const targets = await em.find(DeploymentTarget, { id: { $in: ids } });
  for (const t of targets) {
    states.set(t.id, { targetId: t.id, targetType: t.type, namespace: t.namespace ?? null, scope: t.scope ?? null, deployments: [], deleted: [] });
  }
  const live = [...states.keys()];
  if (live.length === 0) return states;
  const deployments = await em.find(
    Deployment,
    { target: { $in: live } },
    { populate: ['currentRevision.version', 'application'], orderBy: { createdAt: 'asc', id: 'asc' }, strategy: 'joined' },
  );
  const restartMarkers = await latestForceRestarts(em, deployments.map((d) => d.id));
  const logsEnabled = new Map(targets.map((t) => [t.id, t.logsEnabled]));
  for (const d of deployments) {
    const revision = d.currentRevision;
    if (!revision) continue;
    const version = revision.version;
    const base = {
      deploymentId: d.id,
      revisionId: revision.id,
      applicationName: d.application.name,
      versionName: version.name,
      restartMarker: restartMarkers.get(d.id) ?? null,
      logsEnabled: logsEnabled.get(d.target.id) ?? false,
    };
    const state = states.get(d.target.id)!;
    let desired: DesiredDeployment;
    if (d.composeType) {
      desired = {
        ...base,
        type: 'docker',
        composeType: d.composeType,
        projectName: projectName(d.id),
        composeFile: version.composeFile ?? '',
        envFile: renderEnvFile(version.envTemplate ?? null, revision.envFile ?? null),
      };
    } else {
      desired = {
        ...base,
        type: 'kubernetes',
        releaseName: d.releaseName!,
        namespace: state.namespace ?? 'default',
        chart: { type: version.chartType!, url: version.chartUrl!, name: version.chartName ?? null, version: version.chartVersion! },
        values: mergeValues(version.baseValues ?? null, revision.valuesYaml ?? null),
        options: d.helmOptions ?? { timeoutSeconds: 300, atomic: false, wait: false, ignoreDrift: false },
      };
    }
    state.deployments.push(desired);
  }
  const since = new Date(Date.now() - TOMBSTONE_DAYS * 86_400_000);
  const tombstones = await em.find(DeletedDeployment, { target: { $in: live }, deletedAt: { $gte: since } });
  for (const t of tombstones) states.get(t.target.id)?.deleted.push({ deploymentId: t.deploymentId, removeVolumes: t.removeVolumes });
  return states;
}

async function latestForceRestarts(em: EntityManager, deploymentIds: string[]): Promise<Map<string, string>> {
  if (deploymentIds.length === 0) return new Map();
  const rows: { deployment_id: string; id: string }[] = await em.execute(
    `select distinct on (deployment_id) deployment_id, id from ${em.getMetadata(DeploymentRevision).tableName}
     where force_restart and deployment_id in (?) order by deployment_id, created_at desc`,
    [deploymentIds],
  );
  return new Map(rows.map((r) => [r.deployment_id, r.id]));
}
