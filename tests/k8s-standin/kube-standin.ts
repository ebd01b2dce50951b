/**
 * startKubeStandIn(): a STAND-IN Kubernetes API server for tests. No real kube-apiserver can run
 * on these machines, so this small Node HTTP server on 127.0.0.1 plays one, well enough for the
 * real `helm` binary (with HELM_DRIVER=sql and --disable-openapi-validation) and the real
 * @kubernetes/client-node: legacy discovery, CRUD, patches, watches, pod logs and a simulated
 * controller that makes workloads ready (or not). It is a test double, not a Kubernetes.
 */
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { RequestRecord } from './api-server.js';
import { createRequestHandler } from './api-server.js';
import type { ReadinessOptions, ReadinessPolicy } from './controller.js';
import { SimulatedController, toReadinessPolicy } from './controller.js';
import { applyDefaults } from './defaults.js';
import type { KubeObject } from './object-store.js';
import { ObjectStore } from './object-store.js';
import { PodLogs } from './pod-logs.js';
import { findTypeByKind } from './resource-types.js';
import { Changes } from '../testkit/changes.js';

export type { KubeObject } from './object-store.js';
export type { ReadinessOptions } from './controller.js';

export interface KubeStandInOptions {
  /** Namespaces that exist from the start (default: default, kube-system). */
  namespaces?: string[];
  /** Namespace of the kubeconfig context (default: default). */
  contextNamespace?: string;
  readiness?: ReadinessOptions;
  /** Bearer token clients must send (default: stand-in-token). */
  token?: string;
}

export interface KubeStandIn {
  /** http://127.0.0.1:PORT */
  url: string;
  /** A kubeconfig file for this server (insecure-skip-tls-verify, token user, context namespace). */
  kubeconfigPath: string;
  token: string;
  /** Get one object by kind (e.g. 'Deployment' or 'deployments'), namespace and name. */
  get(kind: string, namespace: string | null, name: string): KubeObject | undefined;
  /** List objects of a kind, optionally in one namespace and with a label selector. */
  list(kind: string, namespace?: string | null, labelSelector?: string): KubeObject[];
  /** Create an object directly (e.g. a namespace), as a cluster admin would. */
  create(kind: string, namespace: string | null, object: Omit<KubeObject, 'metadata'> & { metadata: { name: string } & Record<string, unknown> }): KubeObject;
  /** Change how the simulated controller treats workloads from now on. */
  setReadiness(options: ReadinessOptions): void;
  /** With `progressDeadlineMs: Infinity`: never-ready workloads hit their progress deadline now. */
  expireProgressDeadlines(): void;
  /** Append a line to a pod container's log. */
  appendPodLog(namespace: string, pod: string, container: string, line: string): void;
  /** Resolves once `check` holds, re-checked at every object change (create, update, delete): no polling. */
  until<T>(check: () => T | false | null | undefined, what: string): Promise<T>;
  /** Every request seen, for debugging and assertions. */
  requests: RequestRecord[];
  close(): Promise<void>;
}

function typeOf(kind: string) {
  const type = findTypeByKind(kind);
  if (!type) throw new Error(`the kube stand-in does not know kind ${kind}`);
  return type;
}

export async function startKubeStandIn(options: KubeStandInOptions = {}): Promise<KubeStandIn> {
  const store = new ObjectStore();
  const logs = new PodLogs();
  const token = options.token ?? 'stand-in-token';
  const requests: RequestRecord[] = [];
  let policy: ReadinessPolicy = toReadinessPolicy(options.readiness ?? {});
  const controller = new SimulatedController(store, logs, () => policy);
  const changes = new Changes();
  store.events.on('event', () => changes.changed());

  for (const ns of options.namespaces ?? ['default', 'kube-system']) {
    store.create(typeOf('Namespace'), undefined, { metadata: { name: ns }, status: { phase: 'Active' } });
  }

  const handle = createRequestHandler({ store, logs, token, requests, applyDefaults });
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const dir = await mkdtemp(path.join(os.tmpdir(), 'kube-standin-'));
  const kubeconfigPath = path.join(dir, 'kubeconfig.yaml');
  await writeFile(
    kubeconfigPath,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'stand-in', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'stand-in-user', user: { token } }],
      contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'stand-in-user', namespace: options.contextNamespace ?? 'default' } }],
      'current-context': 'stand-in',
    }),
    { mode: 0o600 },
  );

  return {
    url,
    kubeconfigPath,
    token,
    requests,
    get: (kind, namespace, name) => store.get(typeOf(kind), namespace ?? undefined, name),
    list: (kind, namespace, labelSelector) => store.list(typeOf(kind), namespace ?? undefined, labelSelector),
    create: (kind, namespace, object) => {
      const type = typeOf(kind);
      applyDefaults(type, object as KubeObject);
      return store.create(type, namespace ?? undefined, object as KubeObject);
    },
    setReadiness: (readiness) => {
      policy = toReadinessPolicy(readiness, policy);
    },
    appendPodLog: (namespace, pod, container, line) => logs.append(namespace, pod, container, line),
    until: (check, what) => changes.until(check, what),
    expireProgressDeadlines: () => controller.expireProgressDeadlines(),
    async close() {
      controller.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
