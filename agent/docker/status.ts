import type { ContainerInspectInfo } from 'dockerode';
import type { DeploymentPhase, ResourceStatus } from '../../protocol/index.js';
import type { ObservedStatus } from '../core/driver.js';

/** How one container looks, reduced to what the status report needs. */
export interface ContainerCondition {
  /** Container name without the leading '/'. */
  name: string;
  /** Name shown in the summary message: without the project prefix ("web-1"). */
  shortName: string;
  phase: DeploymentPhase;
  /** Groups containers in the summary, e.g. "healthy", "exited (code 1)". */
  condition: string;
  /** Docker's own error text (State.Error, last failing healthcheck output), if any. */
  detail: string | null;
}

const MAX_DETAIL_LENGTH = 300;

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL_LENGTH ? `${oneLine.slice(0, MAX_DETAIL_LENGTH - 1)}…` : oneLine;
}

/** The last healthcheck output, which usually says why a container is unhealthy. */
function lastHealthOutput(info: ContainerInspectInfo): string | null {
  const log = info.State.Health?.Log;
  const output = log && log.length > 0 ? log[log.length - 1]?.Output : undefined;
  return output && output.trim() !== '' ? shorten(output) : null;
}

/**
 * Maps a container's state to a deployment phase: stopped/created/dead/paused containers are
 * errors, restarting or health "starting" is progress, running is healthy only with a passing
 * healthcheck and plain "running" without one.
 */
export function classifyContainer(info: ContainerInspectInfo, projectPrefix: string): ContainerCondition {
  const name = info.Name.replace(/^\//, '');
  const shortName = name.startsWith(projectPrefix) ? name.slice(projectPrefix.length) : name;
  const state = info.State;
  const stateError = state.Error && state.Error.trim() !== '' ? shorten(state.Error) : null;
  const of = (phase: DeploymentPhase, condition: string, detail: string | null = stateError): ContainerCondition => ({
    name,
    shortName,
    phase,
    condition,
    detail,
  });

  // State.Status is one of created, running, paused, restarting, removing, exited, dead.
  switch (state.Status) {
    case 'restarting':
      return of('progressing', 'restarting');
    case 'running': {
      if (state.Paused) return of('error', 'paused');
      const health = state.Health?.Status;
      if (health === undefined || health === '' || health === 'none') {
        return of('running', 'running without healthcheck');
      }
      if (health === 'healthy') return of('healthy', 'healthy');
      if (health === 'starting') return of('progressing', 'starting');
      return of('error', health, lastHealthOutput(info) ?? stateError);
    }
    case 'exited':
      return of('error', `exited (code ${state.ExitCode})`);
    default:
      return of('error', state.Status || 'unknown state');
  }
}

const PHASE_ORDER: readonly DeploymentPhase[] = ['error', 'progressing', 'healthy', 'running'];

/**
 * Overall status: no containers or any error is an error, then any progress is progressing. Else
 * healthy when every healthcheck the project declares passes (containers without one are only
 * known to run), and plain running when the project declares no healthcheck at all. The message counts containers per condition and
 * names the ones that need attention, e.g. "1 exited (code 1): web-1; 2 healthy".
 */
export function summarizeContainers(conditions: ContainerCondition[]): ObservedStatus {
  if (conditions.length === 0) {
    return { phase: 'error', message: 'no containers', resources: [] };
  }
  const phases = new Set(conditions.map((c) => c.phase));
  const phase: DeploymentPhase = phases.has('error')
    ? 'error'
    : phases.has('progressing')
      ? 'progressing'
      : phases.has('healthy')
        ? 'healthy'
        : 'running';

  const groups = new Map<string, ContainerCondition[]>();
  const sorted = [...conditions].sort(
    (a, b) => PHASE_ORDER.indexOf(a.phase) - PHASE_ORDER.indexOf(b.phase) || a.name.localeCompare(b.name),
  );
  for (const condition of sorted) {
    const group = groups.get(condition.condition) ?? [];
    group.push(condition);
    groups.set(condition.condition, group);
  }
  let namesShown = false;
  const parts = [...groups.entries()].map(([label, members]) => {
    const text = `${members.length} ${label}`;
    const needsAttention = members[0]!.phase === 'error' || members[0]!.phase === 'progressing';
    if (!needsAttention) return text;
    namesShown = true;
    const names = members.map((m) => (m.detail ? `${m.shortName} (${m.detail})` : m.shortName));
    return `${text}: ${names.join(', ')}`;
  });

  const resources: ResourceStatus[] = conditions.map((c) => ({
    kind: 'container',
    name: c.name,
    phase: c.phase,
    message: c.detail ? `${c.condition}: ${c.detail}` : c.condition,
  }));
  // Name lists contain commas, so groups are then separated by semicolons.
  return { phase, message: parts.join(namesShown ? '; ' : ', '), resources };
}
