/**
 * Previews (dry runs) of an update or a rollout: for each affected deployment, what its agent
 * receives now and what it would receive, as files with unified diffs — the compose file and the
 * rendered env file, or the chart reference, the merged values and the helm options — plus the
 * validation findings of the new configuration. Secrets are never rendered: each reference
 * becomes a placeholder naming the secret, marked when a new revision would render another value
 * than the current one (decided by comparing value ids; nothing is decrypted). Nothing is written.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createTwoFilesPatch } from 'diff';
import { stringify } from 'yaml';
import type { HubRuntime, VendorPrincipal } from '../context.js';
import { NotFoundError } from '../errors.js';
import { ApplicationVersion } from '../applications/entities.js';
import { mergeEnvFile, mergeValues } from '../agents/desired-state.js';
import { DeploymentService, type UpdateDeploymentInput } from '../deployments/service.js';
import { loadRegistryCredentials, loadSecretValues, type SecretLookup } from '../secrets/resolve.js';
import { referencesInValue, renderValue } from '../secrets/templates.js';
import type { CheckSettings } from '../validation/checks.js';
import { formatComposeEnvFile } from '../validation/env-file.js';
import { finding, type Finding } from '../validation/findings.js';
import { RolloutService, type CreateRolloutInput } from './service.js';

type HelmOptions = { timeoutSeconds: number; atomic: boolean; wait: boolean; ignoreDrift: boolean };

/** What one deployment would become. */
interface Proposal {
  deploymentId: string;
  wave: number | null;
  version: ApplicationVersion;
  envFile: string | null;
  valuesYaml: string | null;
  helmOptions: HelmOptions | null;
}

export interface PreviewFile {
  /** compose.yaml, .env, chart.yaml, values.yaml, helm-options.yaml */
  name: string;
  before: string;
  after: string;
  /** Unified diff (before → after); null when the file does not change. */
  diff: string | null;
}

export interface DeploymentPreview {
  deploymentId: string;
  targetId: string;
  wave: number | null;
  fromVersionId: string;
  toVersionId: string;
  files: PreviewFile[];
  /** Secrets the new revision references (their values are never shown). */
  secrets: string[];
  findings: Finding[];
}

export interface RolloutPreview {
  applicationId: string;
  versionId: string;
  waveSizes: number[];
  deployments: DeploymentPreview[];
}

interface CurrentRow {
  deployment_id: string;
  target_id: string;
  target_name: string;
  organization_id: string;
  namespace: string | null;
  compose_type: string | null;
  release_name: string | null;
  helm_options: HelmOptions | null;
  revision_id: string;
  revision_created_at: Date;
  version_id: string;
  env_file: string | null;
  values_yaml: string | null;
}

const DEFAULT_HELM_OPTIONS: HelmOptions = { timeoutSeconds: 300, atomic: false, wait: false, ignoreDrift: false };

/** How a secret shows in a preview: its name, never its value. */
export const redacted = (name: string, note?: string) => `[redacted secrets.${name}${note ? `: ${note}` : ''}]`;

function unifiedDiff(name: string, before: string, after: string, fromLabel: string, toLabel: string): string | null {
  if (before === after) return null;
  return createTwoFilesPatch(`a/${name}`, `b/${name}`, before, after, fromLabel, toLabel, { context: 3 });
}

const yaml = (value: unknown) => stringify(value, { sortMapEntries: true, lineWidth: 0 });

/** The env entries or merged values of one side, secret references not yet rendered. */
function documentOf(version: ApplicationVersion, envFile: string | null, valuesYaml: string | null): Record<string, unknown> {
  return version.composeFile != null ? mergeEnvFile(version.envTemplate ?? null, envFile) : mergeValues(version.baseValues ?? null, valuesYaml);
}

function namesIn(doc: Record<string, unknown>): Set<string> {
  try {
    return referencesInValue('template', doc);
  } catch {
    return new Set(); // refused when written
  }
}

export class PreviewService {
  private readonly deployments: DeploymentService;

  constructor(
    private readonly em: EntityManager,
    private readonly actor: VendorPrincipal,
    private readonly hub: HubRuntime,
    checks: CheckSettings,
  ) {
    this.deployments = new DeploymentService(em, actor, hub, checks);
  }

  /** What createRollout(input) would change, deployment by deployment, in plan order. */
  async previewRollout(input: CreateRolloutInput): Promise<RolloutPreview> {
    const { app, version, plan, sizes } = await new RolloutService(this.em, this.actor, this.hub).planRollout(input);
    const waves = sizes.flatMap((size, wave) => Array.from({ length: size }, () => wave));
    const rows = await this.currentRows(plan.map((p) => p.id));
    const proposals = plan.map((p, i): Proposal => {
      const row = rows.get(p.id)!;
      return { deploymentId: p.id, wave: waves[i]!, version, envFile: row.env_file, valuesYaml: row.values_yaml, helmOptions: row.helm_options };
    });
    return { applicationId: app.id, versionId: version.id, waveSizes: sizes, deployments: await this.preview(proposals, rows) };
  }

  /** What updateDeployment(id, input) would change; its typed errors for bad input. */
  async previewDeploymentUpdate(id: string, input: UpdateDeploymentInput): Promise<DeploymentPreview> {
    const deployment = await this.deployments.getDeployment(id);
    await this.em.populate(deployment, ['currentRevision', 'currentRevision.version', 'application']);
    const next = await this.deployments.resolveUpdate(this.em, deployment, input);
    const rows = await this.currentRows([deployment.id]);
    const [preview] = await this.preview([{ deploymentId: deployment.id, wave: null, ...next }], rows);
    return preview!;
  }

  /** Each deployment's current revision with its target: one query. */
  private async currentRows(ids: readonly string[]): Promise<Map<string, CurrentRow>> {
    if (ids.length === 0) return new Map();
    const rows = await this.em.execute<CurrentRow[]>(
      `/* previewCurrentRevisions */ select d.id as deployment_id, d.target_id, t.name as target_name, t.organization_id, t.namespace,
              d.compose_type, d.release_name, d.helm_options, r.id as revision_id, r.created_at as revision_created_at,
              r.version_id, r.env_file, r.values_yaml
       from deployment d join deployment_target t on t.id = d.target_id join deployment_revision r on r.id = d.current_revision_id
       where d.organization_id = ? and d.id in (?)`,
      [this.actor.organizationId, [...ids]],
    );
    const byId = new Map(rows.map((r) => [r.deployment_id, r]));
    for (const id of ids) if (!byId.has(id)) throw new NotFoundError('deployment', id);
    return byId;
  }

  private async preview(proposals: Proposal[], rows: Map<string, CurrentRow>): Promise<DeploymentPreview[]> {
    const versionIds = [...new Set([...rows.values()].map((r) => r.version_id))];
    const versions = new Map<string, ApplicationVersion>((await this.em.find(ApplicationVersion, { id: { $in: versionIds } })).map((v) => [v.id, v]));
    for (const p of proposals) versions.set(p.version.id, p.version);
    // Both sides' secret references, resolved to value ids in one query.
    const sides = proposals.map((p) => {
      const row = rows.get(p.deploymentId)!;
      const before = documentOf(versions.get(row.version_id)!, row.env_file, row.values_yaml);
      const after = documentOf(p.version, p.envFile, p.valuesYaml);
      const lookup = (names: Set<string>, at: Date | null): SecretLookup => ({ organizationId: row.organization_id, targetId: row.target_id, names, at });
      return { row, before, after, beforeLookup: lookup(namesIn(before), new Date(row.revision_created_at)), afterLookup: lookup(namesIn(after), null) };
    });
    const secrets = await loadSecretValues(this.em, sides.flatMap((s) => [s.beforeLookup, s.afterLookup]), this.hub.keyring);
    // Registry credentials loaded once; each deployment's checks use the ones its agent would get.
    const credentials = await loadRegistryCredentials(this.em, [this.actor.organizationId], this.hub.keyring);
    const checks = new Map<string, Promise<Finding[]>>();
    return Promise.all(
      proposals.map(async (p, i) => {
        const { row, before, after, beforeLookup, afterLookup } = sides[i]!;
        const fromVersion = versions.get(row.version_id)!;
        const beforeIds = secrets.resolveIds(beforeLookup);
        const afterIds = secrets.resolveIds(afterLookup);
        const placeholders = (names: Set<string>, ids: Map<string, string>, other: Map<string, string> | null) =>
          new Map([...names].map((n) => [n, !ids.has(n) ? redacted(n, 'not defined') : other?.has(n) && other.get(n) !== ids.get(n) ? redacted(n, 'new value') : redacted(n)]));
        const beforeDoc = renderValue(before, placeholders(beforeLookup.names as Set<string>, beforeIds, null));
        const afterDoc = renderValue(after, placeholders(afterLookup.names as Set<string>, afterIds, beforeIds));
        const fromLabel = `revision ${row.revision_id} (version ${fromVersion.name})`;
        const toLabel = `proposed (version ${p.version.name})`;
        const file = (name: string, a: string, b: string): PreviewFile => ({ name, before: a, after: b, diff: unifiedDiff(name, a, b, fromLabel, toLabel) });
        const files =
          row.compose_type != null
            ? [
                file('compose.yaml', fromVersion.composeFile ?? '', p.version.composeFile ?? ''),
                file('.env', formatComposeEnvFile(beforeDoc as Record<string, string>), formatComposeEnvFile(afterDoc as Record<string, string>)),
              ]
            : [
                file('chart.yaml', yaml(chartOf(fromVersion)), yaml(chartOf(p.version))),
                file('values.yaml', yaml(beforeDoc), yaml(afterDoc)),
                file('helm-options.yaml', yaml(row.helm_options ?? DEFAULT_HELM_OPTIONS), yaml(p.helmOptions ?? DEFAULT_HELM_OPTIONS)),
              ];
        // Deployments with the same configuration and the same credentials share one check
        // (registries are asked once). The key stays in memory; it holds a hash, not the passwords.
        const auths = credentials.select(this.actor.organizationId, p.version.application.id, row.target_id, null);
        const key = JSON.stringify([p.version.id, p.envFile, p.valuesYaml, createHash('sha256').update(JSON.stringify(auths)).digest('hex')]);
        if (!checks.has(key)) checks.set(key, this.deployments.checkConfigurationWith(p.version, auths, { envFile: p.envFile, valuesYaml: p.valuesYaml }));
        const field = row.compose_type != null ? 'envFile' : 'valuesYaml';
        const missing = [...afterLookup.names].filter((n) => !afterIds.has(n)).sort();
        const findings = [
          ...(await checks.get(key)!),
          ...missing.map((n) =>
            finding('error', 'secret_missing', field, '', `references secret "${n}", which is defined neither for target "${row.target_name}" nor for the organization`, `Set the secret ${n} for the organization or for this target first.`),
          ),
        ];
        return {
          deploymentId: p.deploymentId,
          targetId: row.target_id,
          wave: p.wave,
          fromVersionId: fromVersion.id,
          toVersionId: p.version.id,
          files,
          secrets: [...afterLookup.names].sort(),
          findings,
        };
      }),
    );
  }
}

/** The chart reference the agent receives. */
function chartOf(v: ApplicationVersion) {
  return { type: v.chartType ?? null, url: v.chartUrl ?? null, name: v.chartName ?? null, version: v.chartVersion ?? null, digest: v.chartDigest ?? null };
}
