import type { EntityManager } from '@mikro-orm/postgresql';
import type { WireDeployment, WireDesiredState } from '../../protocol/index.js';
import { formatComposeEnvFile, parseEnvFileKeepingSecrets } from '../validation/env-file.js';
import { mergeUserValues } from '../validation/values.js';
import { parseSafeYamlMapping } from '../validation/yaml.js';
import type { Keyring } from '../secrets/encryption.js';
import { loadRegistryCredentials, loadSecretValues, registryHostOf, type SecretLookup } from '../secrets/resolve.js';
import { MissingSecretError, referencesInValue, renderValue } from '../secrets/templates.js';
import { loadPreviewRequests } from './preview-requests.js';

/** Tombstones older than this are no longer sent: an agent offline longer keeps the data. */
const TOMBSTONE_DAYS = 7;

/** Compose project / stack name of a deployment: stable for its whole life, unique per host. */
export function projectName(deploymentId: string): string {
  return `distr-${deploymentId.replace(/-/g, '').slice(0, 12)}`;
}

/**
 * Version base values with the revision's values over them, as helm layers `-f` files: maps
 * merged, anything else (arrays too) replaced, and a null kept so helm drops the key, chart
 * default included. Both were checked at write time; parsing here cannot meet an alias bomb.
 */
export function mergeValues(baseValues: string | null, revisionValues: string | null): Record<string, unknown> {
  return mergeUserValues(parseSafeYamlMapping(baseValues ?? ''), parseSafeYamlMapping(revisionValues ?? ''));
}

/**
 * The version's .env template with the deployment's entries layered on top, as compose reads them
 * (the deployment's entries may interpolate the template's); secret references unrendered.
 */
export function mergeEnvFile(template: string | null, envFile: string | null): Record<string, string> {
  const base = parseEnvFileKeepingSecrets(template ?? '');
  return { ...base, ...parseEnvFileKeepingSecrets(envFile ?? '', (k) => base[k]) };
}

/** The registry hosts of a compose file's images; null when one is built from variables (then: all). */
export function imageHostsOf(composeFile: string): Set<string> | null {
  let compose: { services?: Record<string, { image?: unknown }> } | null;
  try {
    compose = parseSafeYamlMapping(composeFile) as typeof compose;
  } catch {
    return null;
  }
  const hosts = new Set<string>();
  for (const service of Object.values(compose?.services ?? {})) {
    const image = service?.image;
    if (typeof image !== 'string') continue;
    if (image.includes('$')) return null;
    hosts.add(registryHostOf(image));
  }
  return hosts;
}

/**
 * Many targets run the same version, and a version's compose file never changes: parse each once,
 * not once per target and load (agents reconnecting one by one load in small batches). Bounded:
 * emptied when full.
 */
const hostsByCompose = new Map<string, Set<string> | null>();
const MAX_CACHED_COMPOSE_FILES = 256;

function cachedImageHostsOf(composeFile: string): Set<string> | null {
  let hosts = hostsByCompose.get(composeFile);
  if (hosts === undefined) {
    if (hostsByCompose.size >= MAX_CACHED_COMPOSE_FILES) hostsByCompose.clear();
    hostsByCompose.set(composeFile, (hosts = imageHostsOf(composeFile)));
  }
  return hosts;
}

/** One row of the query below; its column types come from the contract where it has them. */
interface DesiredRow {
  target_id: string;
  organization_id: string;
  application_id: string | null;
  revision_created_at: Date | null;
  target_type: WireDesiredState['targetType'];
  namespace: string | null;
  scope: WireDesiredState['scope'];
  logs_enabled: boolean;
  deployment_id: string | null;
  compose_type: NonNullable<WireDeployment['docker']>['composeType'] | null;
  release_name: string | null;
  helm_options: Pick<NonNullable<WireDeployment['kubernetes']>, 'timeoutSeconds' | 'atomic' | 'wait' | 'ignoreDrift'> | null;
  revision_id: string | null;
  env_file: string | null;
  values_yaml: string | null;
  application_name: string | null;
  version_name: string | null;
  compose_file: string | null;
  env_template: string | null;
  chart_type: NonNullable<WireDeployment['kubernetes']>['chart']['type'] | null;
  chart_url: string | null;
  chart_name: string | null;
  chart_version: string | null;
  chart_digest: string | null;
  base_values: string | null;
  restart_marker: string | null;
}

/**
 * The whole desired state of each given target, in two queries (sent together) however many
 * targets are asked for: a rollout touching 1 000 targets loads them at once. Plain SQL: this is
 * the hub's hottest read (every change, every agent connect), and hydrating entities for it cost
 * more than the database work.
 */
export async function loadDesiredStates(em: EntityManager, targetIds: readonly string[], keyring: Keyring): Promise<Map<string, WireDesiredState>> {
  const ids = [...new Set(targetIds)];
  const states = new Map<string, WireDesiredState>();
  if (ids.length === 0) return states;
  const since = new Date(Date.now() - TOMBSTONE_DAYS * 86_400_000);
  const [rows, tombstones, previews] = await Promise.all([
    em.execute<DesiredRow[]>(
      `select t.id as target_id, t.organization_id, d.application_id, r.created_at as revision_created_at, t.type as target_type, t.namespace, t.scope, t.logs_enabled,
              d.id as deployment_id, d.compose_type, d.release_name, d.helm_options,
              r.id as revision_id, r.env_file, r.values_yaml, a.name as application_name,
              v.name as version_name, v.compose_file, v.env_template, v.chart_type, v.chart_url, v.chart_name, v.chart_version, v.chart_digest, v.base_values,
              (select fr.id from deployment_revision fr where fr.deployment_id = d.id and fr.force_restart
                order by fr.created_at desc limit 1) as restart_marker
       from deployment_target t
       left join deployment d on d.target_id = t.id and d.current_revision_id is not null
       left join deployment_revision r on r.id = d.current_revision_id
       left join application_version v on v.id = r.version_id
       left join application a on a.id = d.application_id
       where t.id in (?)
       order by t.id, d.created_at asc, d.id asc`,
      [ids],
    ),
    em.execute<{ target_id: string; deployment_id: string; remove_volumes: boolean }[]>(
      `select target_id, deployment_id, remove_volumes from deleted_deployment where target_id in (?) and deleted_at >= ?`,
      [ids, since],
    ),
    loadPreviewRequests(em, ids, keyring),
  ]);
  // Secrets and registry credentials: one query each for the whole batch.
  const renderable = rows.map((row) => {
    if (!row.deployment_id || !row.revision_id) return null;
    const env = row.compose_type ? mergeEnvFile(row.env_template ?? null, row.env_file ?? null) : null;
    const values = row.compose_type ? null : mergeValues(row.base_values ?? null, row.values_yaml ?? null);
    let names: Set<string>;
    try {
      names = referencesInValue('template', env ?? values);
    } catch {
      names = new Set(); // refused when written; nothing to resolve
    }
    return { env, values, names };
  });
  const lookups: SecretLookup[] = rows.flatMap((row, i) => {
    const r = renderable[i];
    return r && r.names.size > 0 ? [{ organizationId: row.organization_id, targetId: row.target_id, names: r.names, at: row.revision_created_at ? new Date(row.revision_created_at) : null }] : [];
  });
  const secrets = await loadSecretValues(em, lookups, keyring);
  const credentials = await loadRegistryCredentials(em, rows.filter((r) => r.deployment_id).map((r) => r.organization_id), keyring);

  rows.forEach((row, i) => {
    let state = states.get(row.target_id);
    if (!state) {
      state = {
        targetId: row.target_id,
        targetType: row.target_type,
        namespace: row.namespace ?? null,
        scope: row.scope ?? null,
        deployments: [],
        deleted: [],
        runtimePreviews: previews.get(row.target_id) ?? [],
      };
      states.set(row.target_id, state);
    }
    const r = renderable[i];
    if (!r || !row.deployment_id || !row.revision_id) return;
    let error: string | null = null;
    let env = r.env;
    let values = r.values;
    if (r.names.size > 0) {
      try {
        const resolved = secrets.resolve({ organizationId: row.organization_id, targetId: row.target_id, names: r.names, at: row.revision_created_at ? new Date(row.revision_created_at) : null });
        if (env) env = renderValue(env, resolved);
        if (values) values = renderValue(values, resolved);
      } catch (err) {
        // Never the value: only which secret could not be rendered, and why.
        error = err instanceof MissingSecretError ? `cannot render this revision: ${err.message} for this target` : `cannot render this revision's secrets: ${(err as Error).message}`;
        env = {};
        values = {};
      }
    }
    const registryAuths = credentials.select(
      row.organization_id,
      row.application_id!,
      row.target_id,
      row.compose_type ? cachedImageHostsOf(row.compose_file ?? '') : null,
    );
    const base = {
      deploymentId: row.deployment_id,
      revisionId: row.revision_id,
      applicationName: row.application_name!,
      versionName: row.version_name!,
      restartMarker: row.restart_marker ?? null,
      logsEnabled: row.logs_enabled,
      registryAuths,
      error,
    };
    const desired: WireDeployment = row.compose_type
      ? {
          ...base,
          type: 'docker',
          docker: {
            composeType: row.compose_type,
            projectName: projectName(row.deployment_id),
            composeFile: row.compose_file ?? '',
            envFile: formatComposeEnvFile(env ?? {}),
          },
          kubernetes: null,
        }
      : {
          ...base,
          type: 'kubernetes',
          docker: null,
          kubernetes: {
            releaseName: row.release_name!,
            namespace: state.namespace ?? 'default',
            chart: { type: row.chart_type!, url: row.chart_url!, name: row.chart_name ?? null, version: row.chart_version!, digest: row.chart_digest ?? null },
            values: values ?? {},
            ...(row.helm_options ?? { timeoutSeconds: 300, atomic: false, wait: false, ignoreDrift: false }),
          },
        };
    state.deployments.push(desired);
  });
  for (const t of tombstones) states.get(t.target_id)?.deleted.push({ deploymentId: t.deployment_id, removeVolumes: t.remove_volumes });
  return states;
}
