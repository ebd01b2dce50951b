/**
 * The agent's decisions as pure functions: no Docker, helm, timers or sockets, so each rule is unit
 * tested on its own (tests/agent-decisions.test.ts). The runtime (agent.ts, deployment-worker.ts,
 * hub-client.ts) calls these and does what they say.
 */
import { createHash } from 'node:crypto';
import { AgentCloseCode, type DesiredDeployment } from '../../protocol/index.js';
import type { AppliedRecord } from './state-store.js';

/** Hash of what the runtime runs: an unchanged spec is not applied again (revision ids aside). */
export function specHash(d: DesiredDeployment): string {
  const spec =
    d.type === 'docker'
      ? { type: d.type, composeType: d.composeType, projectName: d.projectName, composeFile: d.composeFile, envFile: d.envFile }
      : { type: d.type, releaseName: d.releaseName, namespace: d.namespace, chart: d.chart, values: d.values, options: d.options };
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

/**
 * Hash of the registry credentials: not part of the spec (a rotated password alone redeploys
 * nothing), but a failure caused by a credential is retried once it changes.
 */
export function credentialsHash(d: DesiredDeployment): string {
  return createHash('sha256').update(JSON.stringify(d.registryAuths ?? [])).digest('hex');
}

/**
 * What a permanent failure is keyed by: the spec, and the credentials it was tried with (a fixed
 * credential retries it; a deployment without credentials is keyed by its spec alone).
 */
export function failureKey(d: DesiredDeployment): string {
  const hash = specHash(d);
  return d.registryAuths?.length ? `${hash}|${credentialsHash(d)}` : hash;
}

/** What a deployment's worker does next. */
export type WorkerStep =
  /** The runtime does not run this spec: apply it. */
  | { kind: 'apply'; hash: string }
  /** The hub could not render this deployment (e.g. a missing secret): report it, touch nothing. */
  | { kind: 'report-hub-error'; message: string }
  /** This spec failed permanently: nothing to do until a new revision changes it. */
  | { kind: 'wait-for-new-revision'; hash: string }
  /** Same spec under a new revision (e.g. a force restart): record the revision, apply nothing. */
  | { kind: 'record-revision'; hash: string }
  /** The spec is applied, but a newer restart marker has not been acted on. */
  | { kind: 'restart'; hash: string; marker: string }
  /** The runtime matches: observe it. */
  | { kind: 'converged'; hash: string };

/**
 * The next step for a desired deployment, given what this agent last applied (its local record)
 * and the `failureKey` that last failed permanently (if any).
 */
export function nextStep(desired: DesiredDeployment, applied: AppliedRecord | undefined, permanentFailure: string | null): WorkerStep {
  if (desired.error) return { kind: 'report-hub-error', message: desired.error };
  const hash = specHash(desired);
  if (applied?.specHash !== hash) return permanentFailure === failureKey(desired) ? { kind: 'wait-for-new-revision', hash } : { kind: 'apply', hash };
  if (applied.revisionId !== desired.revisionId) return { kind: 'record-revision', hash };
  if (desired.restartMarker && desired.restartMarker !== applied.restartMarker) return { kind: 'restart', hash, marker: desired.restartMarker };
  return { kind: 'converged', hash };
}

/** Whether a new desired state of the same deployment means the worker has something to do. */
export function isNewWork(previous: DesiredDeployment, next: DesiredDeployment): boolean {
  return (
    specHash(next) !== specHash(previous) ||
    next.restartMarker !== previous.restartMarker ||
    next.revisionId !== previous.revisionId ||
    next.error !== previous.error ||
    credentialsHash(next) !== credentialsHash(previous)
  );
}

/** How a failed apply is retried. */
export type FailureHandling = { kind: 'permanent' } | { kind: 'retry'; attempt: number };

/**
 * Permanent failures cannot be fixed by trying the same desired state again (an invalid compose
 * file, a chart version that does not exist, a rolled-back atomic upgrade): report once and wait
 * for a new revision. Anything else (a registry or the network down, a busy engine) is retried
 * with backoff.
 */
export function handleApplyFailure(err: unknown, failuresSoFar: number): FailureHandling {
  return isPermanentFailure(err) ? { kind: 'permanent' } : { kind: 'retry', attempt: failuresSoFar };
}

/**
 * What docker and registries answer when the image (or its tag) does not exist in the registry
 * this host pulls from — e.g. a registry mirror that lacks an image the hub found: retrying the
 * same reference cannot help, so it is permanent (reported once with docker's message, tried again
 * when the revision or the credentials change). Not "no such image" with pull_policy never (an
 * operator may still load it on the host) nor a registry that does not answer (transient).
 */
const MISSING_IMAGE = [
  /manifest unknown/i,
  /manifest for \S+ not found/i,
  /name unknown/i,
  /repository (?:name )?(?:does not exist|not known to registry)/i,
  /failed to resolve reference "[^"]+": [^\n]*not found/i,
];

export function isMissingImageFailure(message: string): boolean {
  return MISSING_IMAGE.some((pattern) => pattern.test(message));
}

export function isPermanentFailure(err: unknown): boolean {
  return err instanceof Error && (err.name === 'PermanentApplyError' || (err as { permanent?: boolean }).permanent === true);
}

/** What the agent does when the hub closes its socket with a code (docs/agent-protocol.md, "Close codes"). */
export interface CloseHandling {
  /** Discard the token and log in again before reconnecting. */
  relogin: boolean;
  level: 'info' | 'warn' | 'error';
  /** What the log line says. */
  explanation: string;
}

export function onSocketClosed(code: number | undefined): CloseHandling {
  switch (code) {
    case AgentCloseCode.Unauthorized:
      return { relogin: true, level: 'warn', explanation: 'the hub did not accept the token (missing, invalid or expired): logging in again' };
    case AgentCloseCode.Forbidden:
      return {
        relogin: true,
        level: 'error',
        explanation:
          "the target's credential was rotated or the target deleted: logging in again with the configured secret; if that keeps failing, install the new secret (DISTR_TARGET_SECRET or DISTR_TARGET_SECRET_FILE)",
      };
    case AgentCloseCode.BadRequest:
    case AgentCloseCode.TooManyInitialisationRequests:
      return { relogin: false, level: 'error', explanation: 'the hub refused a protocol message from this agent (an agent bug?): reconnecting' };
    case AgentCloseCode.ConnectionInitialisationTimeout:
      return { relogin: false, level: 'warn', explanation: 'the hub waited too long for connection_init: reconnecting' };
    case AgentCloseCode.InternalServerError:
    case AgentCloseCode.InternalError:
      return { relogin: false, level: 'warn', explanation: 'the hub failed while handling the socket: reconnecting with backoff' };
    case AgentCloseCode.GoingAway:
      return { relogin: false, level: 'info', explanation: 'the hub is shutting down: reconnecting with backoff' };
    default:
      return { relogin: false, level: 'warn', explanation: 'connection to the hub lost: reconnecting with backoff' };
  }
}

/** A refusal the hub returned as a typed error (an errors-union member), as the agent sees it. */
export interface Refusal {
  __typename: string;
  message: string;
  field?: string;
  rule?: string;
}

/**
 * What to do with a batch (of status reports or log lines) the hub refused with a typed error.
 * The same input would be refused again, so the batch is dropped, never retried forever; a log
 * refusal because the target has logs switched off also stops log shipping until they are on again.
 */
export type RefusalHandling = { kind: 'drop'; stopLogs: boolean };
export function onRefusal(refusal: Refusal): RefusalHandling {
  return { kind: 'drop', stopLogs: refusal.__typename === 'RuleViolationError' && refusal.rule === 'logs_disabled' };
}

/** Reports the hub refused one by one are dropped (resending cannot help); the rest count as delivered. */
export function deliveredReports<R extends { deploymentId: string; revisionId: string }>(sent: R[], refused: { deploymentId: string; revisionId: string }[]): R[] {
  const bad = new Set(refused.map((r) => `${r.deploymentId}|${r.revisionId}`));
  return sent.filter((r) => !bad.has(`${r.deploymentId}|${r.revisionId}`));
}
