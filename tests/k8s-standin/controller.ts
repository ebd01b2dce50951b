/**
 * A tiny simulated controller for the stand-in Kubernetes API server (test double). It does what
 * the real controllers and kubelet would do, just enough for helm's --wait and for status checks:
 * Deployments get a ReplicaSet and Pods, StatefulSets/DaemonSets/Jobs get Pods, and after a
 * configurable delay everything becomes ready — or, for workloads the test marks as failing,
 * Pods go into CrashLoopBackOff and Deployments hit ProgressDeadlineExceeded.
 */
import { createHash } from 'node:crypto';
import type { KubeObject, ObjectStore, WatchEvent } from './object-store.js';
import type { PodLogs } from './pod-logs.js';
import type { ResourceType } from './resource-types.js';
import { findTypeByKind, groupVersion } from './resource-types.js';

export interface ReadinessPolicy {
  /** Delay before a workload's pods become ready. */
  readyAfterMs: number;
  /** Workloads that never become ready (their pods crash-loop); `object` is the workload as stored. */
  neverReady: (workload: { kind: string; namespace: string; name: string; object: KubeObject }) => boolean;
  /**
   * After this long a never-ready Deployment reports ProgressDeadlineExceeded; Infinity: only when
   * the test calls expireProgressDeadlines() (no wall-clock window for a test to race).
   */
  progressDeadlineMs: number;
}

export interface ReadinessOptions {
  readyAfterMs?: number;
  neverReady?: RegExp | string[] | ReadinessPolicy['neverReady'];
  progressDeadlineMs?: number;
}

export function toReadinessPolicy(options: ReadinessOptions, base?: ReadinessPolicy): ReadinessPolicy {
  const never = options.neverReady;
  return {
    readyAfterMs: options.readyAfterMs ?? base?.readyAfterMs ?? 200,
    progressDeadlineMs: options.progressDeadlineMs ?? base?.progressDeadlineMs ?? 1000,
    neverReady:
      never === undefined ? (base?.neverReady ?? (() => false))
      : never instanceof RegExp ? (w) => never.test(w.name)
      : Array.isArray(never) ? (w) => never.includes(w.name)
      : never,
  };
}

const T = (kind: string): ResourceType => findTypeByKind(kind)!;
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'Pod']);
type PodTemplate = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: { containers?: { name: string; image?: string }[] } };

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const templateHash = (template: unknown) => createHash('sha256').update(JSON.stringify(template ?? {})).digest('hex').slice(0, 10);
const randomSuffix = () => Math.random().toString(36).slice(2, 7);

export class SimulatedController {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly heldDeadlines = new Set<() => void>();
  private readonly onEvent = (event: WatchEvent) => this.handle(event);

  constructor(
    private readonly store: ObjectStore,
    private readonly logs: PodLogs,
    private readonly policy: () => ReadinessPolicy,
  ) {
    store.events.on('event', this.onEvent);
  }

  stop(): void {
    this.store.events.off('event', this.onEvent);
    for (const timer of this.timers) clearTimeout(timer);
    this.heldDeadlines.clear();
  }

  /** Let every progress deadline held back by `progressDeadlineMs: Infinity` pass now. */
  expireProgressDeadlines(): void {
    const due = [...this.heldDeadlines];
    this.heldDeadlines.clear();
    for (const fire of due) {
      try {
        fire();
      } catch {
        // The object changed or went away meanwhile.
      }
    }
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      try {
        fn();
      } catch {
        // The object changed or went away meanwhile; the next event reconciles again.
      }
    }, ms);
    this.timers.add(timer);
  }

  private handle(event: WatchEvent): void {
    const kind = event.resource.kind;
    if (event.type === 'DELETED' || !WORKLOAD_KINDS.has(kind)) return;
    const obj = event.object;
    // Only spec changes need work: status writes (ours) leave the generation alone.
    if ((obj.status?.observedGeneration as number | undefined) === obj.metadata.generation && kind !== 'Pod') return;
    if (kind === 'Pod') {
      if (event.type === 'ADDED' && !obj.metadata.ownerReferences?.length) this.startPod(obj, this.failing(obj, kind));
      return;
    }
    queueMicrotask(() => {
      try {
        this.reconcile(event.resource, obj);
      } catch {
        // Raced with a delete or another write; the next event reconciles again.
      }
    });
  }

  private failing(obj: KubeObject, kind: string): boolean {
    return this.policy().neverReady({ kind, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name, object: obj });
  }

  private reconcile(type: ResourceType, snapshot: KubeObject): void {
    const obj = this.store.get(type, snapshot.metadata.namespace, snapshot.metadata.name);
    if (!obj || obj.metadata.uid !== snapshot.metadata.uid) return;
    const failing = this.failing(obj, type.kind);
    const spec = obj.spec as { replicas?: number; template?: PodTemplate };
    const template = spec.template ?? {};
    const hash = templateHash(template);
    const replicas = type.kind === 'Deployment' || type.kind === 'StatefulSet' ? (spec.replicas ?? 1) : 1;
    let podOwner = obj;
    if (type.kind === 'Deployment') podOwner = this.ensureReplicaSet(obj, template, hash, replicas);
    const podNames =
      type.kind === 'StatefulSet' ? Array.from({ length: replicas }, (_, i) => `${obj.metadata.name}-${i}`)
      : Array.from({ length: replicas }, () => `${podOwner.metadata.name}-${randomSuffix()}`);
    this.replacePods(obj, podOwner, template, hash, podNames, failing);
    if (type.kind === 'StatefulSet') this.ensureVolumeClaims(obj, replicas);
    this.setWorkloadStatus(type, obj, { ready: false, failing, hash, replicas, deadlineExceeded: false });
    const generation = obj.metadata.generation;
    const stillCurrent = () => this.store.get(type, obj.metadata.namespace, obj.metadata.name)?.metadata.generation === generation;
    const { readyAfterMs, progressDeadlineMs } = this.policy();
    this.later(readyAfterMs, () => {
      if (!stillCurrent()) return;
      if (!failing) this.setWorkloadStatus(type, obj, { ready: true, failing, hash, replicas, deadlineExceeded: false });
    });
    if (failing && (type.kind === 'Deployment' || type.kind === 'Job')) {
      const exceed = () => {
        if (stillCurrent()) this.setWorkloadStatus(type, obj, { ready: false, failing, hash, replicas, deadlineExceeded: true });
      };
      if (Number.isFinite(progressDeadlineMs)) this.later(progressDeadlineMs, exceed);
      else this.heldDeadlines.add(exceed);
    }
  }

  private ensureReplicaSet(dep: KubeObject, template: PodTemplate, hash: string, replicas: number): KubeObject {
    const rsType = T('ReplicaSet');
    const name = `${dep.metadata.name}-${hash}`;
    const ns = dep.metadata.namespace;
    for (const rs of this.ownedBy(rsType, dep)) {
      if (rs.metadata.name !== name && (rs.spec?.replicas as number) !== 0) {
        this.write(rsType, { ...rs, spec: { ...rs.spec, replicas: 0 } });
        this.write(rsType, { ...rs, status: { replicas: 0, readyReplicas: 0, availableReplicas: 0 } }, 'status');
        for (const pod of this.ownedBy(T('Pod'), rs)) this.deletePod(pod);
      }
    }
    const existing = this.store.get(rsType, ns, name);
    if (existing) return existing;
    const rsTemplate = structuredClone(template);
    rsTemplate.metadata = { ...rsTemplate.metadata, labels: { ...rsTemplate.metadata?.labels, 'pod-template-hash': hash } };
    return this.store.create(rsType, ns, {
      metadata: {
        name,
        labels: { ...template.metadata?.labels, 'pod-template-hash': hash },
        annotations: { 'deployment.kubernetes.io/revision': String(dep.metadata.generation ?? 1) },
        ownerReferences: [this.ownerRef(T('Deployment'), dep)],
      },
      spec: {
        replicas,
        selector: { matchLabels: { ...(dep.spec?.selector as { matchLabels?: Record<string, string> })?.matchLabels, 'pod-template-hash': hash } },
        template: rsTemplate,
      },
    });
  }

  /** StatefulSet claims outlive their pods and the StatefulSet itself, as in a real cluster. */
  private ensureVolumeClaims(sts: KubeObject, replicas: number): void {
    const pvcType = T('PersistentVolumeClaim');
    const templates = ((sts.spec?.volumeClaimTemplates ?? []) as { metadata?: { name?: string }; spec?: Record<string, unknown> }[]);
    for (const template of templates) {
      for (let i = 0; i < replicas; i++) {
        const name = `${template.metadata?.name}-${sts.metadata.name}-${i}`;
        if (this.store.get(pvcType, sts.metadata.namespace, name)) continue;
        const pvc = this.store.create(pvcType, sts.metadata.namespace, { metadata: { name, labels: (sts.spec?.selector as { matchLabels?: Record<string, string> })?.matchLabels }, spec: structuredClone(template.spec ?? {}) });
        this.write(pvcType, { ...pvc, status: { phase: 'Bound' } }, 'status');
      }
    }
  }

  private replacePods(workload: KubeObject, owner: KubeObject, template: PodTemplate, hash: string, names: string[], failing: boolean): void {
    const podType = T('Pod');
    for (const pod of this.ownedBy(podType, owner)) this.deletePod(pod);
    const ownerType = T(owner.kind!);
    for (const name of names) {
      const pod = this.store.create(podType, owner.metadata.namespace, {
        metadata: {
          name,
          labels: { ...template.metadata?.labels, ...(workload.kind === 'Job' ? { 'job-name': workload.metadata.name } : { 'pod-template-hash': hash }) },
          annotations: template.metadata?.annotations,
          ownerReferences: [this.ownerRef(ownerType, owner)],
        },
        spec: structuredClone(template.spec ?? { containers: [] }),
        status: {},
      });
      this.startPod(pod, failing);
    }
  }

  /** Pending now; running (or crash-looping) after the readiness delay, with a few log lines. */
  private startPod(pod: KubeObject, failing: boolean): void {
    const podType = T('Pod');
    const ns = pod.metadata.namespace!;
    const containers = ((pod.spec?.containers ?? []) as { name: string; image?: string }[]);
    this.write(podType, { ...pod, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] } }, 'status');
    for (const c of containers) this.logs.append(ns, pod.metadata.name, c.name, `starting ${c.name} (${c.image ?? 'no image'})`);
    this.later(this.policy().readyAfterMs, () => {
      const current = this.store.get(podType, ns, pod.metadata.name);
      if (!current || current.metadata.uid !== pod.metadata.uid) return;
      const containerStatuses = containers.map((c) =>
        failing
          ? { name: c.name, image: c.image, ready: false, restartCount: 3, started: false, state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off 40s restarting failed container=${c.name} pod=${pod.metadata.name}` } }, lastState: { terminated: { exitCode: 1, reason: 'Error' } } }
          : { name: c.name, image: c.image, ready: true, restartCount: 0, started: true, state: { running: { startedAt: now() } } },
      );
      for (const c of containers) this.logs.append(ns, pod.metadata.name, c.name, failing ? `fatal: ${c.name} crashed (simulated)` : `${c.name} is ready`);
      const ready = failing ? 'False' : 'True';
      this.write(podType, {
        ...current,
        status: {
          phase: 'Running',
          podIP: '10.244.0.10',
          startTime: now(),
          conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Initialized', status: 'True' }, { type: 'ContainersReady', status: ready }, { type: 'Ready', status: ready }],
          containerStatuses,
        },
      }, 'status');
    });
  }

  private setWorkloadStatus(type: ResourceType, obj: KubeObject, s: { ready: boolean; failing: boolean; hash: string; replicas: number; deadlineExceeded: boolean }): void {
    const ns = obj.metadata.namespace;
    const current = this.store.get(type, ns, obj.metadata.name);
    if (!current) return;
    const ready = s.ready ? s.replicas : 0;
    const observedGeneration = current.metadata.generation;
    let status: Record<string, unknown>;
    switch (type.kind) {
      case 'Deployment': {
        const rsName = `${obj.metadata.name}-${s.hash}`;
        const rs = this.store.get(T('ReplicaSet'), ns, rsName);
        if (rs) this.write(T('ReplicaSet'), { ...rs, status: { replicas: s.replicas, readyReplicas: ready, availableReplicas: ready, fullyLabeledReplicas: s.replicas, observedGeneration: rs.metadata.generation } }, 'status');
        const ts = now();
        const progressing = s.deadlineExceeded
          ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.` }
          : { type: 'Progressing', status: 'True', reason: s.ready ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated', message: s.ready ? `ReplicaSet "${rsName}" has successfully progressed.` : `ReplicaSet "${rsName}" is progressing.` };
        const available = s.ready
          ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
          : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' };
        status = {
          observedGeneration, replicas: s.replicas, updatedReplicas: s.replicas, readyReplicas: ready, availableReplicas: ready,
          ...(s.ready ? {} : { unavailableReplicas: s.replicas }),
          conditions: [available, progressing].map((c) => ({ ...c, lastUpdateTime: ts, lastTransitionTime: ts })),
        };
        break;
      }
      case 'StatefulSet': {
        const revision = `${obj.metadata.name}-${s.hash}`;
        status = { observedGeneration, replicas: s.replicas, readyReplicas: ready, availableReplicas: ready, currentReplicas: s.replicas, updatedReplicas: s.replicas, currentRevision: revision, updateRevision: revision };
        break;
      }
      case 'DaemonSet':
        status = { observedGeneration, desiredNumberScheduled: 1, currentNumberScheduled: 1, updatedNumberScheduled: 1, numberReady: ready, numberAvailable: ready, ...(s.ready ? {} : { numberUnavailable: 1 }), numberMisscheduled: 0 };
        break;
      case 'Job':
        status = s.ready
          ? { observedGeneration, succeeded: 1, active: 0, startTime: now(), completionTime: now(), conditions: [{ type: 'Complete', status: 'True' }] }
          : { observedGeneration, active: 1, startTime: now(), ...(s.failing && s.deadlineExceeded ? { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] } : {}) };
        break;
      default:
        return;
    }
    this.write(type, { ...current, status }, 'status');
  }

  /** Controller writes are last-writer-wins: no resourceVersion precondition. */
  private write(type: ResourceType, obj: KubeObject, subresource?: 'status'): KubeObject {
    const { resourceVersion: _rv, ...metadata } = obj.metadata;
    return this.store.update(type, obj.metadata.namespace, obj.metadata.name, { ...obj, metadata: { ...metadata, name: obj.metadata.name } }, subresource);
  }

  private ownedBy(type: ResourceType, owner: KubeObject): KubeObject[] {
    return this.store.list(type, owner.metadata.namespace).filter((o) => o.metadata.ownerReferences?.some((r) => r.uid === owner.metadata.uid));
  }

  private deletePod(pod: KubeObject): void {
    this.store.delete(T('Pod'), pod.metadata.namespace, pod.metadata.name);
    this.logs.drop(pod.metadata.namespace!, pod.metadata.name);
  }

  private ownerRef(type: ResourceType, owner: KubeObject) {
    return { apiVersion: groupVersion(type), kind: type.kind, name: owner.metadata.name, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
  }
}
