/**
 * The tests' REAL Kubernetes control plane (scripts/start-test-k8s.sh: etcd, kube-apiserver with
 * TLS and RBAC, kube-controller-manager, kube-scheduler, and kwok's fake node and kubelet), found
 * through its well-known file $DISTR_TEST_K8S_STATE/cluster.json, and helpers over it: objects by
 * kind, unique namespaces, the agent's own RBAC from its chart with a ServiceAccount token, pod
 * logs through kwok, and static PersistentVolumes. What kwok simulates: pods' status (no container
 * runs); everything else is Kubernetes itself.
 */
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { execa } from 'execa';
import YAML from 'yaml';
import { HELM_BIN } from './helm.js';
import { repoRoot } from './hub.js';

export interface ClusterInfo {
  server: string;
  /** kubeconfig of the static admin token (system:masters). */
  kubeconfig: string;
  caFile: string;
  tokenFile: string;
  kubectl: string;
  kubernetesVersion: string;
  logs: string;
  /** The public podinfo chart's source (see scripts/build-test-k8s.sh). */
  podinfoChart: string;
}

/** Any object, as read from the API (untyped: tests look at what Kubernetes wrote). */
export type KubeObject = KubernetesObject & { spec?: any; status?: any; data?: Record<string, string>; [field: string]: any };

export const STATE_DIR = process.env.DISTR_TEST_K8S_STATE ?? '/tmp/distr-test-k8s';

let started: Promise<ClusterInfo> | null = null;

/**
 * The running control plane. Starts it when it is not up (the binaries must be built: `npm test`
 * or scripts/setup-test-env.sh do that), reuses it otherwise.
 */
export function testCluster(): Promise<ClusterInfo> {
  started ??= (async () => {
    const result = await execa('bash', [path.join(repoRoot, 'scripts', 'start-test-k8s.sh')], {
      env: { ...process.env, DISTR_TEST_K8S_STATE: STATE_DIR, DISTR_TEST_K8S_NO_BUILD: '1' },
      reject: false,
    });
    if (result.exitCode !== 0) throw new Error(`the test control plane is not running and could not be started:\n${result.stderr}`);
    return JSON.parse(await readFile(path.join(STATE_DIR, 'cluster.json'), 'utf8')) as ClusterInfo;
  })();
  return started;
}

const API_VERSIONS: Record<string, string> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  Job: 'batch/v1',
  HorizontalPodAutoscaler: 'autoscaling/v2',
  PodDisruptionBudget: 'policy/v1',
  Role: 'rbac.authorization.k8s.io/v1',
  RoleBinding: 'rbac.authorization.k8s.io/v1',
  ClusterRole: 'rbac.authorization.k8s.io/v1',
  ClusterRoleBinding: 'rbac.authorization.k8s.io/v1',
  CustomResourceDefinition: 'apiextensions.k8s.io/v1',
  ClusterLogs: 'kwok.x-k8s.io/v1alpha1',
  Ingress: 'networking.k8s.io/v1',
};
const apiVersionOf = (kind: string) => API_VERSIONS[kind] ?? 'v1';

const isNotFound = (error: unknown) => (error as { code?: number })?.code === 404;

/** Object access with one identity (the admin's by default). */
export class Kube {
  readonly objects: KubernetesObjectApi;
  readonly core: CoreV1Api;

  constructor(
    readonly info: ClusterInfo,
    readonly kubeconfigPath: string,
  ) {
    const kc = this.kubeConfig();
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /** One object, or undefined when it does not exist. `kind` may be `group/version/Kind` for others. */
  async get(kind: string, namespace: string | null, name: string): Promise<KubeObject | undefined> {
    const [apiVersion, k] = splitKind(kind);
    try {
      return (await this.objects.read({ apiVersion, kind: k, metadata: { name, ...(namespace ? { namespace } : {}) } })) as KubeObject;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list(kind: string, namespace?: string | null, labelSelector?: string): Promise<KubeObject[]> {
    const [apiVersion, k] = splitKind(kind);
    const list = await this.objects.list(apiVersion, k, namespace ?? undefined, undefined, undefined, undefined, undefined, labelSelector);
    return list.items as KubeObject[];
  }

  async create(object: KubeObject): Promise<KubeObject> {
    return (await this.objects.create({ apiVersion: apiVersionOf(object.kind!), ...object })) as KubeObject;
  }

  /** Delete (background propagation, as kubectl does); a missing object is fine. */
  async delete(kind: string, namespace: string | null, name: string): Promise<void> {
    const [apiVersion, k] = splitKind(kind);
    await this.objects
      .delete({ apiVersion, kind: k, metadata: { name, ...(namespace ? { namespace } : {}) } }, undefined, undefined, undefined, undefined, 'Background')
      .catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });
  }

  /**
   * What a failed test needs to tell a control-plane stall from an agent bug: the namespace's
   * workloads with their generations and conditions, its pods, and its events (best effort).
   */
  async describeWorkloads(namespace: string): Promise<string> {
    const columns = '{range .items[*]}{.kind}/{.metadata.name} generation={.metadata.generation} observed={.status.observedGeneration} replicas={.status.replicas} ready={.status.readyReplicas} available={.status.availableReplicas} conditions={.status.conditions[*].reason} {.status.conditions[*].status}{"\\n"}{end}';
    const parts = await Promise.all([
      this.kubectl(['get', 'deployments,replicasets,statefulsets', '-n', namespace, '-o', `jsonpath=${columns}`]),
      this.kubectl(['get', 'pods', '-n', namespace, '-o', 'wide', '--show-labels']),
      this.kubectl(['get', 'events', '-n', namespace, '--sort-by=.lastTimestamp']),
      // The fake node's events (NodeNotReady would have made its pods unready; kwok rewrites the
      // conditions' transition times, so the events are what tells).
      this.kubectl(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.kind=Node']),
    ].map((p) => p.catch((error: unknown) => `(${error instanceof Error ? error.message : String(error)})`)));
    return `--- namespace ${namespace} at ${new Date().toISOString()}\n${parts.join('\n')}`;
  }

  /** kubectl with this identity. */
  async kubectl(args: string[]): Promise<string> {
    return (await execa(this.info.kubectl, ['--kubeconfig', this.kubeconfigPath, ...args])).stdout;
  }
}

function splitKind(kind: string): [string, string] {
  const slash = kind.lastIndexOf('/');
  return slash < 0 ? [apiVersionOf(kind), kind] : [kind.slice(0, slash), kind.slice(slash + 1)];
}

/** The admin's view of the test cluster. */
export async function adminKube(): Promise<Kube> {
  const info = await testCluster();
  return new Kube(info, info.kubeconfig);
}

/** A unique name (the cluster is shared by test files and kept between runs). */
export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** Create a namespace with a unique name; returns its name and a cleanup that deletes it. */
export async function createNamespace(kube: Kube, prefix: string): Promise<{ name: string; remove(): Promise<void> }> {
  const name = uniqueName(prefix);
  await kube.create({ kind: 'Namespace', metadata: { name } });
  // The namespace's default ServiceAccount (made by the controller manager) must exist before pods can be.
  for (let i = 0; i < 200 && !(await kube.get('ServiceAccount', name, 'default')); i++) await new Promise((r) => setTimeout(r, 50));
  return { name, remove: () => kube.delete('Namespace', null, name) };
}

export interface AgentIdentity {
  /** A kubeconfig with the agent ServiceAccount's token: what the agent's pod would have. */
  kubeconfigPath: string;
  serviceAccount: string;
  kube: Kube;
  remove(): Promise<void>;
}

/**
 * The Kubernetes agent's identity as its chart (charts/distr-agent) creates it: the chart is
 * rendered with `helm template` for `namespace` and `scope`, its ServiceAccount and RBAC objects
 * (Role + RoleBinding, or ClusterRole + ClusterRoleBinding) are applied as the admin, and a token
 * of that ServiceAccount (TokenRequest API) goes into a kubeconfig.
 */
export async function agentIdentity(admin: Kube, options: { namespace: string; scope: 'namespace' | 'cluster' }): Promise<AgentIdentity> {
  const release = 'distr-agent';
  const { stdout } = await execa(HELM_BIN, [
    'template', release, path.join(repoRoot, 'charts', 'distr-agent'),
    '--namespace', options.namespace,
    '--set', 'hub.url=https://hub.example.test',
    '--set', `target.id=${options.namespace}`,
    '--set', 'target.secret=unused-in-this-test',
    '--set', `scope=${options.scope}`,
  ]);
  const rbacKinds = new Set(['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);
  const objects = YAML.parseAllDocuments(stdout).map((d) => d.toJS() as KubeObject).filter((o) => o && rbacKinds.has(o.kind!));
  const clusterScoped: KubeObject[] = [];
  for (const object of objects) {
    await admin.create(object);
    if (object.kind!.startsWith('Cluster')) clusterScoped.push(object);
  }
  const serviceAccount = objects.find((o) => o.kind === 'ServiceAccount')!.metadata!.name!;
  const token = await admin.core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: options.namespace,
    body: { spec: { expirationSeconds: 3600, audiences: [] } },
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'k8s-agent-identity-'));
  const kubeconfigPath = path.join(dir, 'kubeconfig.yaml');
  await writeFile(
    kubeconfigPath,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'distr-test', cluster: { server: admin.info.server, 'certificate-authority': admin.info.caFile } }],
      users: [{ name: serviceAccount, user: { token: token.status!.token } }],
      contexts: [{ name: 'agent', context: { cluster: 'distr-test', user: serviceAccount, namespace: options.namespace } }],
      'current-context': 'agent',
    }),
    { mode: 0o600 },
  );
  return {
    kubeconfigPath,
    serviceAccount,
    kube: new Kube(admin.info, kubeconfigPath),
    async remove() {
      for (const object of clusterScoped) await admin.delete(object.kind!, null, object.metadata!.name!);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface PodLogs {
  /** Append a line (as a container would write it) to the log of every pod in the namespace. */
  append(line: string): Promise<void>;
  remove(): Promise<void>;
}

/**
 * Pod logs in a namespace. kwok runs no containers: it serves, as the kubelet's log endpoint, a
 * file that a ClusterLogs object names. The file is in CRI log format; lines appended while a
 * client follows the log are streamed to it.
 */
export async function podLogs(admin: Kube, namespace: string, initialLines: string[] = []): Promise<PodLogs> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'k8s-pod-logs-'));
  const file = path.join(dir, 'pods.log');
  const criLine = (line: string) => `${new Date().toISOString().replace(/Z$/, '000000Z')} stdout F ${line}\n`;
  await writeFile(file, initialLines.map(criLine).join(''));
  const name = `distr-test-${namespace}`;
  await admin.create({
    kind: 'ClusterLogs',
    metadata: { name },
    spec: { selector: { matchNamespaces: [namespace] }, logs: [{ containers: [], logsFile: file, follow: true }] },
  } as KubeObject);
  return {
    append: (line) => appendFile(file, criLine(line)),
    async remove() {
      await admin.delete('ClusterLogs', null, name);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A PersistentVolume bound in advance to one claim (static provisioning: the test cluster has no
 * storage provisioner). The PersistentVolume controller binds the claim when it appears.
 */
export async function staticVolumeFor(admin: Kube, namespace: string, claimName: string): Promise<{ name: string; remove(): Promise<void> }> {
  const name = uniqueName('pv');
  await admin.create({
    kind: 'PersistentVolume',
    metadata: { name },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      hostPath: { path: `/tmp/${name}` },
      claimRef: { namespace, name: claimName },
    },
  });
  return { name, remove: () => admin.delete('PersistentVolume', null, name) };
}
