/** The swarm status decision (pure): a stack's phase and message from its services' tasks. */
import { expect, test } from 'vitest';
import { summarizeSwarmServices, type SwarmServiceInfo, type SwarmTaskInfo } from '../agent/docker/swarm-status.js';

const service = (id: string, replicas: number, healthcheck = false): SwarmServiceInfo => ({
  ID: id,
  Spec: {
    Name: `stack_${id}`,
    Mode: { Replicated: { Replicas: replicas } },
    TaskTemplate: { ContainerSpec: healthcheck ? { Healthcheck: { Test: ['CMD', 'true'] } } : {} },
  },
});
const task = (serviceId: string, slot: number, state: string, at: string, err?: string, desired = 'running'): SwarmTaskInfo => ({
  ServiceID: serviceId,
  Slot: slot,
  DesiredState: desired,
  UpdatedAt: at,
  Status: { State: state, Err: err },
});

test('all replicas running: healthy with a healthcheck, running without; one resource per service', () => {
  const s = summarizeSwarmServices([service('web', 2, true), service('worker', 1)], [task('web', 1, 'running', '1'), task('web', 2, 'running', '1'), task('worker', 1, 'running', '1')], 'stack_');
  expect(s.phase).toBe('healthy');
  expect(s.message).toBe('web: 2/2 tasks running, healthy; worker: 1/1 tasks running');
  expect(s.resources.map((r) => [r.kind, r.name, r.phase])).toEqual([['service', 'web', 'healthy'], ['service', 'worker', 'running']]);
});

test("a slot whose newest task was rejected is an error with swarm's reason; a starting one is progressing", () => {
  const s = summarizeSwarmServices(
    [service('web', 1), service('worker', 1)],
    [
      task('web', 1, 'rejected', '2', 'No such image: 127.0.0.1:5000/vendor/app:1', 'shutdown'),
      task('web', 1, 'running', '1', undefined, 'shutdown'),
      task('worker', 1, 'starting', '1'),
    ],
    'stack_',
  );
  expect(s.phase).toBe('error');
  expect(s.message).toBe('web: 0/1 tasks running, task rejected: No such image: 127.0.0.1:5000/vendor/app:1; worker: 0/1 tasks running');
  expect(s.resources[1]).toMatchObject({ name: 'worker', phase: 'progressing' });
});

test('no services is an error', () => {
  expect(summarizeSwarmServices([], [], 'stack_')).toEqual({ phase: 'error', message: 'no services', resources: [] });
});
