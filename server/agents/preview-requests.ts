/**
 * The agent's side of runtime previews: the pending requests its desired state carries (the
 * candidate rendered as a revision of it would be, plus the secret values the agent must redact),
 * and its answer. Requests are rows (server/rollouts/entities.ts `RuntimePreview`); a
 * reconnecting agent gets the still-pending ones with its first state, an expired one is dropped.
 */
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { MAX_PREVIEW_DIFF, MAX_PREVIEW_SERVICES, MAX_RESOURCE_FIELD, redactSecrets, type SecretToRedact, type WireRuntimePreviewRequest } from '../../protocol/index.js';
import type { AgentPrincipal, HubRuntime } from '../context.js';
import { InvalidInputError, NotFoundError, RuleViolationError } from '../errors.js';
import { isUuid } from '../scoping.js';
import { RuntimePreview, type RuntimePreviewServiceChange } from '../rollouts/entities.js';
import type { Keyring } from '../secrets/encryption.js';
import { loadSecretValues, type SecretLookup } from '../secrets/resolve.js';
import { MissingSecretError, referencesInValue, renderValue } from '../secrets/templates.js';
import { formatComposeEnvFile } from '../validation/env-file.js';
import { mergeEnvFile, mergeValues } from './desired-state.js';

/** Requests one target carries at most; more wait (oldest first). */
const MAX_REQUESTS_PER_TARGET = 20;

interface RequestRow {
  id: string;
  target_id: string;
  organization_id: string;
  deployment_id: string;
  expires_at: Date;
  env_file: string | null;
  values_yaml: string | null;
  compose_file: string | null;
  env_template: string | null;
  base_values: string | null;
  chart_type: NonNullable<WireRuntimePreviewRequest['chart']>['type'] | null;
  chart_url: string | null;
  chart_name: string | null;
  chart_version: string | null;
  chart_digest: string | null;
  /** The deployment's current revision's side, whose secret values the agent also holds. */
  cur_created_at: Date | null;
  cur_env_file: string | null;
  cur_values_yaml: string | null;
  cur_env_template: string | null;
  cur_base_values: string | null;
  cur_compose_file: string | null;
}

function namesOf(doc: Record<string, unknown>): Set<string> {
  try {
    return referencesInValue('template', doc);
  } catch {
    return new Set(); // refused when written
  }
}

/** Pending, unexpired requests of these targets (or these preview ids), rendered for their agent. */
async function loadRequests(em: EntityManager, where: { targetIds?: readonly string[]; previewIds?: readonly string[] }, keyring: Keyring) {
  const byTarget = where.targetIds != null;
  const ids = [...new Set(byTarget ? where.targetIds! : where.previewIds!)];
  if (ids.length === 0) return [];
  const rows = await em.execute<RequestRow[]>(
    `/* loadRuntimePreviewRequests */ select p.id, p.target_id, p.organization_id, p.deployment_id, p.expires_at, p.env_file, p.values_yaml,
            v.compose_file, v.env_template, v.base_values, v.chart_type, v.chart_url, v.chart_name, v.chart_version, v.chart_digest,
            r.created_at as cur_created_at, r.env_file as cur_env_file, r.values_yaml as cur_values_yaml,
            cv.env_template as cur_env_template, cv.base_values as cur_base_values, cv.compose_file as cur_compose_file
     from runtime_preview p
     join application_version v on v.id = p.version_id
     join deployment d on d.id = p.deployment_id
     left join deployment_revision r on r.id = d.current_revision_id
     left join application_version cv on cv.id = r.version_id
     where ${byTarget ? 'p.target_id' : 'p.id'} in (?) and p.state = 'pending' and p.expires_at > now()
     order by p.target_id, p.requested_at asc, p.id asc`,
    [ids],
  );
  const perTarget = new Map<string, number>();
  const kept = rows.filter((r) => {
    const n = (perTarget.get(r.target_id) ?? 0) + 1;
    perTarget.set(r.target_id, n);
    return n <= MAX_REQUESTS_PER_TARGET;
  });
  const sides = kept.map((row) => {
    const docker = row.compose_file != null;
    const candidate = docker ? mergeEnvFile(row.env_template, row.env_file) : mergeValues(row.base_values, row.values_yaml);
    const current =
      row.cur_created_at == null ? null : row.cur_compose_file != null ? mergeEnvFile(row.cur_env_template, row.cur_env_file) : mergeValues(row.cur_base_values, row.cur_values_yaml);
    const lookup = (doc: Record<string, unknown> | null, at: Date | null): SecretLookup => ({ organizationId: row.organization_id, targetId: row.target_id, names: doc ? namesOf(doc) : new Set(), at });
    return { row, docker, candidate, candidateLookup: lookup(candidate, null), currentLookup: lookup(current, row.cur_created_at ? new Date(row.cur_created_at) : null) };
  });
  const secrets = await loadSecretValues(em, sides.flatMap((s) => [s.candidateLookup, s.currentLookup]), keyring);
  return sides.map(({ row, docker, candidate, candidateLookup, currentLookup }) => {
    const rendered = secrets.resolve(candidateLookup);
    // Both sides' values (the current revision may render an older one), each once.
    const pairs = [...rendered, ...secrets.resolve(currentLookup)];
    const redact: SecretToRedact[] = [...new Map(pairs.map(([name, value]) => [`${name}\u0000${value}`, { name, value }])).values()];
    let error: string | null = null;
    let doc: Record<string, unknown> = candidate;
    try {
      if (candidateLookup.names instanceof Set && candidateLookup.names.size > 0) doc = renderValue(candidate, rendered);
    } catch (err) {
      // Only which secret is missing, never a value.
      error = err instanceof MissingSecretError ? `cannot render the candidate: ${err.message} for this target` : `cannot render the candidate's secrets: ${(err as Error).message}`;
      doc = {};
    }
    const request: WireRuntimePreviewRequest = {
      previewId: row.id,
      deploymentId: row.deployment_id,
      expiresAt: new Date(row.expires_at).toISOString(),
      error,
      composeFile: docker ? row.compose_file : null,
      envFile: docker ? formatComposeEnvFile(doc as Record<string, string>) : null,
      chart: docker ? null : { type: row.chart_type!, url: row.chart_url!, name: row.chart_name ?? null, version: row.chart_version!, digest: row.chart_digest ?? null },
      values: docker ? null : doc,
      redact,
    };
    return { targetId: row.target_id, request };
  });
}

/** The pending runtime-preview requests of each target, for its desired state. */
export async function loadPreviewRequests(em: EntityManager, targetIds: readonly string[], keyring: Keyring): Promise<Map<string, WireRuntimePreviewRequest[]>> {
  const out = new Map<string, WireRuntimePreviewRequest[]>();
  for (const { targetId, request } of await loadRequests(em, { targetIds }, keyring)) {
    (out.get(targetId) ?? out.set(targetId, []).get(targetId)!).push(request);
  }
  return out;
}

export interface RuntimePreviewReportInput {
  previewId: string;
  /** The revision the agent compared against (null: it runs nothing of this deployment). */
  baseRevisionId: string | null;
  /** Set when the agent could not preview: the reason. */
  error: string | null;
  diff: string | null;
  services: RuntimePreviewServiceChange[] | null;
  message: string | null;
}

function validateReport(input: RuntimePreviewReportInput): void {
  if (!isUuid(input.previewId)) throw new NotFoundError('runtime preview', input.previewId);
  if (input.baseRevisionId != null && !isUuid(input.baseRevisionId)) throw new InvalidInputError('report.baseRevisionId', `"${input.baseRevisionId}" is not a revision id`);
  if ((input.diff?.length ?? 0) > MAX_PREVIEW_DIFF) throw new InvalidInputError('report.diff', `longer than ${MAX_PREVIEW_DIFF} characters`);
  const services = input.services ?? [];
  if (services.length > MAX_PREVIEW_SERVICES) throw new InvalidInputError('report.services', `${services.length} services; at most ${MAX_PREVIEW_SERVICES}`);
  services.forEach((s, i) => {
    for (const key of ['name', 'imageBefore', 'imageAfter'] as const) {
      if ((s[key]?.length ?? 0) > MAX_RESOURCE_FIELD) throw new InvalidInputError(`report.services[${i}].${key}`, `longer than ${MAX_RESOURCE_FIELD} characters`);
    }
  });
  if (input.error == null && input.diff == null) throw new InvalidInputError('report', 'give either error or diff');
}

/**
 * Store the agent's answer to a pending request of its target. The hub redacts the secrets it
 * sent once more before storing (the agent should have already). Refused: a preview of another
 * target (not found), one already answered (`preview_not_pending`), one past its expiry
 * (`preview_expired`, and it is marked expired).
 */
export async function reportRuntimePreview(em: EntityManager, hub: HubRuntime, agent: AgentPrincipal, input: RuntimePreviewReportInput): Promise<RuntimePreview> {
  validateReport(input);
  const result = await em.transactional(async (tx) => {
    const preview = await tx.findOne(RuntimePreview, { id: input.previewId, target: agent.targetId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!preview) throw new NotFoundError('runtime preview', input.previewId);
    if (preview.state !== 'pending') return { refusal: new RuleViolationError('preview_not_pending', `runtime preview ${preview.id} was already ${preview.state}`) };
    if (preview.expiresAt.getTime() <= Date.now()) {
      preview.state = 'expired';
      preview.completedAt = new Date();
      await tx.flush();
      await publishChange(tx, hub, preview);
      return { refusal: new RuleViolationError('preview_expired', `runtime preview ${preview.id} expired at ${preview.expiresAt.toISOString()}`) };
    }
    const [rendered] = await loadRequests(tx, { previewIds: [preview.id] }, hub.keyring);
    const secrets = rendered?.request.redact ?? [];
    const clean = (text: string | null) => (text == null ? null : redactSecrets(text, secrets));
    preview.state = input.error != null ? 'failed' : 'done';
    preview.completedAt = new Date();
    preview.baseRevisionId = input.baseRevisionId;
    preview.message = clean(input.error ?? input.message)?.slice(0, 4000) ?? null;
    preview.diff = clean(input.diff);
    preview.services = input.services?.map((s) => ({ ...s, name: clean(s.name)!, imageBefore: clean(s.imageBefore), imageAfter: clean(s.imageAfter) })) ?? null;
    await tx.flush();
    await publishChange(tx, hub, preview);
    return { preview };
  });
  if ('refusal' in result) throw result.refusal;
  return result.preview;
}

/** Watchers reload the preview; the agent's desired state drops (or gets) the request. */
export async function publishChange(em: EntityManager, hub: HubRuntime, preview: RuntimePreview): Promise<void> {
  await hub.bus.publish(em, 'runtimePreviewChanged', { organizationId: preview.organization.id, previewId: preview.id });
  await hub.bus.publish(em, 'targetsChanged', { targetIds: [preview.target.id] });
}
