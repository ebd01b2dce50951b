import type { DeploymentPhase, ResourceStatus } from '../../protocol/index.js';
import type { ObservedStatus } from '../core/driver.js';

/** The parts of a swarm service (GET /services) the status needs. */
export interface SwarmServiceInfo {
  ID: string;
  Spec?: {
    Name?: string;
    Mode?: { Replicated?: { Replicas?: number }; Global?: object };
    TaskTemplate?: { ContainerSpec?: { Healthcheck?: { Test?: string[] } } };
  };
  UpdateStatus?: { State?: string; Message?: string };
}

/** The parts of a task (GET /tasks) the status needs. */
export interface SwarmTaskInfo {
  ServiceID?: string;
  Slot?: number;
  NodeID?: string;
  DesiredState?: string;
  UpdatedAt?: string;
  Status?: { State?: string; Err?: string; Message?: string };
}

const FAILED = new Set(['failed', 'rejected', 'orphaned']);
const MAX_DETAIL_LENGTH = 300;
const shorten = (text: string) => {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_DETAIL_LENGTH ? `${oneLine.slice(0, MAX_DETAIL_LENGTH - 1)}…` : oneLine;
};

interface ServiceCondition {
  name: string;
  phase: DeploymentPhase;
  message: string;
}

/**
 * One service from its tasks: healthy/running when as many tasks run as it wants (swarm reports a
 * task with a healthcheck running only once it passes), an error when the newest task of a slot
 * that is not running failed or was rejected (with swarm's reason: "No such image", a failed
 * healthcheck, …), else progressing ("0/1 tasks running").
 */
export function classifyService(service: SwarmServiceInfo, tasks: SwarmTaskInfo[], projectPrefix: string): ServiceCondition {
  const fullName = service.Spec?.Name ?? service.ID;
  const name = fullName.startsWith(projectPrefix) ? fullName.slice(projectPrefix.length) : fullName;
  const own = tasks.filter((t) => t.ServiceID === service.ID);
  const wanted = own.filter((t) => t.DesiredState === 'running');
  const desired = service.Spec?.Mode?.Replicated ? (service.Spec.Mode.Replicated.Replicas ?? 1) : wanted.length;
  const running = wanted.filter((t) => t.Status?.State === 'running').length;
  const healthcheck = (service.Spec?.TaskTemplate?.ContainerSpec?.Healthcheck?.Test ?? []).some((t) => t !== 'NONE');
  if (service.UpdateStatus?.State === 'paused' || service.UpdateStatus?.State === 'rollback_paused') {
    return { name, phase: 'error', message: `update ${service.UpdateStatus.State}: ${shorten(service.UpdateStatus.Message ?? '')}` };
  }
  if (desired === 0) return { name, phase: 'running', message: '0 replicas wanted' };
  if (running >= desired && wanted.length === running) {
    return { name, phase: healthcheck ? 'healthy' : 'running', message: `${running}/${desired} tasks running${healthcheck ? ', healthy' : ''}` };
  }
  // The newest task per slot (node for global services) says what is happening there now.
  const newest = new Map<string, SwarmTaskInfo>();
  for (const task of own) {
    const slot = String(task.Slot ?? task.NodeID ?? '');
    const seen = newest.get(slot);
    if (!seen || (task.UpdatedAt ?? '') > (seen.UpdatedAt ?? '')) newest.set(slot, task);
  }
  const failed = [...newest.values()].find((t) => FAILED.has(t.Status?.State ?? '') || (t.Status?.State !== 'running' && t.Status?.Err));
  if (failed) {
    return { name, phase: 'error', message: `${running}/${desired} tasks running, task ${failed.Status?.State}: ${shorten(failed.Status?.Err || failed.Status?.Message || 'no reason given')}` };
  }
  return { name, phase: 'progressing', message: `${running}/${desired} tasks running` };
}

const PHASE_ORDER: readonly DeploymentPhase[] = ['error', 'progressing', 'healthy', 'running'];

/** A stack from its services' tasks: the worst service decides; one resource per service. */
export function summarizeSwarmServices(services: SwarmServiceInfo[], tasks: SwarmTaskInfo[], projectPrefix: string): ObservedStatus {
  if (services.length === 0) return { phase: 'error', message: 'no services', resources: [] };
  const conditions = services.map((s) => classifyService(s, tasks, projectPrefix)).sort(
    (a, b) => PHASE_ORDER.indexOf(a.phase) - PHASE_ORDER.indexOf(b.phase) || a.name.localeCompare(b.name),
  );
  // Sorted worst first; healthy before running, so one healthy service among running ones makes it healthy.
  const phase = conditions[0]!.phase;
  const resources: ResourceStatus[] = conditions.map((c) => ({ kind: 'service', name: c.name, phase: c.phase, message: c.message }));
  return { phase, message: conditions.map((c) => `${c.name}: ${c.message}`).join('; '), resources };
}
