/**
 * A release's workloads (Deployments, StatefulSets, DaemonSets, Jobs from `helm get manifest`)
 * and their health, read with @kubernetes/client-node: ready → healthy, rolling out →
 * progressing, failed / past the progress deadline / crash-looping pods → error naming the
 * resource and the reason.
 */
import type { AppsV1Api, BatchV1Api, CoreV1Api, V1Condition, V1DaemonSet, V1Deployment, V1Job, V1LabelSelector, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import YAML from 'yaml';
import type { ResourceStatus } from '../../protocol/index.js';

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
  namespace: string;
}

export interface KubeApis {
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
}

type Workload = V1Deployment | V1StatefulSet | V1DaemonSet | V1Job;

/** Workloads in a rendered manifest (multi-document YAML); unnamespaced ones are in the release's namespace. */
export function workloadsInManifest(manifest: string, releaseNamespace: string): WorkloadRef[] {
  const refs: WorkloadRef[] = [];
  for (const doc of YAML.parseAllDocuments(manifest)) {
    const obj = doc.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
    if (!obj?.kind || !obj.metadata?.name) continue;
    if ((WORKLOAD_KINDS as readonly string[]).includes(obj.kind)) {
      refs.push({ kind: obj.kind as WorkloadKind, name: obj.metadata.name, namespace: obj.metadata.namespace ?? releaseNamespace });
    }
  }
  return refs;
}

export function isApiNotFound(error: unknown): boolean {
  return (error as { code?: unknown })?.code === 404;
}

export async function readWorkload(apis: KubeApis, ref: WorkloadRef): Promise<Workload | null> {
  const params = { name: ref.name, namespace: ref.namespace };
  try {
    switch (ref.kind) {
      case 'Deployment':
        return await apis.apps.readNamespacedDeployment(params);
      case 'StatefulSet':
        return await apis.apps.readNamespacedStatefulSet(params);
      case 'DaemonSet':
        return await apis.apps.readNamespacedDaemonSet(params);
      case 'Job':
        return await apis.batch.readNamespacedJob(params);
    }
  } catch (error) {
    if (isApiNotFound(error)) return null;
    throw error;
  }
}

export function labelSelectorString(selector: V1LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/** The pods a workload selects (an empty selector selects nothing, not everything). */
export async function workloadPods(apis: KubeApis, ref: WorkloadRef, workload: Workload): Promise<V1Pod[]> {
  const selector = labelSelectorString(workload.spec?.selector);
  if (!selector) return [];
  const list = await apis.core.listNamespacedPod({ namespace: ref.namespace, labelSelector: selector });
  return list.items;
}

/** Waiting reasons that will not fix themselves. */
const BROKEN_CONTAINER_REASONS = new Set(['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

function brokenPod(pods: V1Pod[]): string | null {
  for (const pod of pods) {
    for (const status of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const waiting = status.state?.waiting;
      if (waiting?.reason && BROKEN_CONTAINER_REASONS.has(waiting.reason)) {
        return `pod ${pod.metadata?.name} container ${status.name} ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
      }
    }
    if (pod.status?.phase === 'Failed' && pod.status.reason) return `pod ${pod.metadata?.name} failed: ${pod.status.reason}`;
  }
  return null;
}

const condition = (conditions: { type: string; status: string; reason?: string; message?: string }[] | undefined, type: string) =>
  conditions?.find((c) => c.type === type) as Pick<V1Condition, 'type' | 'status' | 'reason' | 'message'> | undefined;

function result(ref: WorkloadRef, phase: ResourceStatus['phase'], message: string): ResourceStatus {
  return { kind: ref.kind, name: ref.name, phase, message };
}

/** Health of one workload from its object and its pods. */
export function evaluateWorkload(ref: WorkloadRef, workload: Workload | null, pods: V1Pod[]): ResourceStatus {
  if (!workload) return result(ref, 'error', `${ref.kind} ${ref.name} not found in namespace ${ref.namespace}`);
  const observed = (workload.status as { observedGeneration?: number } | undefined)?.observedGeneration ?? 0;
  const generation = workload.metadata?.generation ?? 0;
  const broken = brokenPod(pods);
  const fail = (reason: string) => result(ref, 'error', `${ref.kind} ${ref.name}: ${reason}`);

  if (ref.kind === 'Job') {
    const job = workload as V1Job;
    const failed = condition(job.status?.conditions, 'Failed');
    if (failed?.status === 'True') return fail(`${failed.reason ?? 'Failed'}${failed.message ? `: ${failed.message}` : ''}`);
    if (condition(job.status?.conditions, 'Complete')?.status === 'True') return result(ref, 'healthy', 'completed');
    if (broken) return fail(broken);
    return result(ref, 'progressing', `${job.status?.active ?? 0} active`);
  }

  if (ref.kind === 'Deployment') {
    const spec = (workload as V1Deployment).spec;
    const status = (workload as V1Deployment).status;
    const progressing = condition(status?.conditions, 'Progressing');
    if (progressing?.status === 'False') return fail(`${progressing.reason ?? 'NotProgressing'}${progressing.message ? `: ${progressing.message}` : ''}`);
    const replicaFailure = condition(status?.conditions, 'ReplicaFailure');
    if (replicaFailure?.status === 'True') return fail(`${replicaFailure.reason ?? 'ReplicaFailure'}: ${replicaFailure.message ?? ''}`);
    if (broken) return fail(broken);
    if (spec?.paused) return result(ref, 'healthy', 'paused');
    const wanted = spec?.replicas ?? 1;
    const available = condition(status?.conditions, 'Available');
    const rolledOut = observed >= generation && (status?.updatedReplicas ?? 0) >= wanted;
    // Unavailable after a completed rollout means pods were lost, not that they are still starting.
    if (rolledOut && available?.status === 'False' && progressing?.reason === 'NewReplicaSetAvailable') {
      return fail(`${available.reason ?? 'Unavailable'}: ${available.message ?? ''}`);
    }
    if (observed < generation) return result(ref, 'progressing', 'waiting for the rollout to start');
    const ready = status?.readyReplicas ?? 0;
    const availableReplicas = status?.availableReplicas ?? 0;
    if (!rolledOut || availableReplicas < wanted || (status?.replicas ?? 0) > wanted) {
      return result(ref, 'progressing', `${ready}/${wanted} ready, ${status?.updatedReplicas ?? 0} updated`);
    }
    return result(ref, 'healthy', `${ready}/${wanted} ready`);
  }

  if (broken) return fail(broken);
  if (observed < generation) return result(ref, 'progressing', 'waiting for the rollout to start');
  if (ref.kind === 'StatefulSet') {
    const sts = workload as V1StatefulSet;
    const wanted = sts.spec?.replicas ?? 1;
    const ready = sts.status?.readyReplicas ?? 0;
    const updated = sts.status?.updatedReplicas ?? 0;
    if (ready < wanted || updated < wanted) return result(ref, 'progressing', `${ready}/${wanted} ready, ${updated} updated`);
    return result(ref, 'healthy', `${ready}/${wanted} ready`);
  }
  const ds = (workload as V1DaemonSet).status;
  const desired = ds?.desiredNumberScheduled ?? 0;
  if ((ds?.numberReady ?? 0) < desired || (ds?.updatedNumberScheduled ?? 0) < desired) {
    return result(ref, 'progressing', `${ds?.numberReady ?? 0}/${desired} ready, ${ds?.updatedNumberScheduled ?? 0} updated`);
  }
  return result(ref, 'healthy', `${ds?.numberReady ?? 0}/${desired} ready`);
}

/** Read and evaluate every workload of a release. */
export async function observeWorkloads(apis: KubeApis, refs: WorkloadRef[]): Promise<ResourceStatus[]> {
  return Promise.all(
    refs.map(async (ref) => {
      const workload = await readWorkload(apis, ref);
      const pods = workload ? await workloadPods(apis, ref, workload) : [];
      return evaluateWorkload(ref, workload, pods);
    }),
  );
}
