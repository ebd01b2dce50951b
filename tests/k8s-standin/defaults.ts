/**
 * Server-side defaulting of the stand-in Kubernetes API server (test double): the few defaults
 * helm's readiness checks dereference (replicas, update strategies) and a cluster IP for Services.
 */
import type { KubeObject } from './object-store.js';
import type { ResourceType } from './resource-types.js';

let nextClusterIp = 10;

export function applyDefaults(type: ResourceType, obj: KubeObject): void {
  const spec = (obj.spec ??= {}) as Record<string, unknown>;
  switch (type.kind) {
    case 'Deployment':
      spec.replicas ??= 1;
      spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      break;
    case 'StatefulSet':
      spec.replicas ??= 1;
      spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
      spec.podManagementPolicy ??= 'OrderedReady';
      break;
    case 'DaemonSet':
      spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
      break;
    case 'Job':
      spec.backoffLimit ??= 6;
      spec.completions ??= 1;
      spec.parallelism ??= 1;
      break;
    case 'Service':
      spec.type ??= 'ClusterIP';
      if (spec.type !== 'ExternalName' && !spec.clusterIP) {
        const n = nextClusterIp++;
        spec.clusterIP = `10.96.${Math.floor(n / 250)}.${(n % 250) + 1}`;
        spec.clusterIPs = [spec.clusterIP];
      }
      obj.status ??= { loadBalancer: {} };
      break;
    case 'Namespace':
      obj.status = { phase: 'Active' };
      break;
    default:
      if (Object.keys(spec).length === 0) delete obj.spec;
  }
}
