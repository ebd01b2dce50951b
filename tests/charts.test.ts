/**
 * The Helm charts in charts/: linted strictly and rendered offline with the real helm binary
 * (.bin/helm, installed by scripts/install-helm.sh), then installed with --wait on the tests' real
 * Kubernetes API server, which validates every object (kwok makes the pods ready; no image runs).
 * The agent chart's RBAC in use: tests/testkit/kube-cluster.ts (agentIdentity).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { adminKube, createNamespace } from './testkit/kube-cluster.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const helmBin = path.join(root, '.bin', 'helm');
const agentChart = path.join(root, 'charts', 'distr-agent');
const hubChart = path.join(root, 'charts', 'distr-hub');

let helmHome: string;

beforeAll(async () => {
  if (!existsSync(helmBin)) {
    await execa('bash', [path.join(root, 'scripts', 'install-helm.sh')], { cwd: root });
  }
  helmHome = await mkdtemp(path.join(tmpdir(), 'distr-charts-test-'));
});

afterAll(async () => {
  if (helmHome) await rm(helmHome, { recursive: true, force: true });
});

interface HelmResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function helm(args: string[], kubeconfig = path.join(helmHome, 'no-kubeconfig')): Promise<HelmResult> {
  const r = await execa(helmBin, args, {
    cwd: root,
    reject: false,
    // Only the helm homes and a minimal PATH: no kubeconfig or user settings leak in.
    extendEnv: false,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: helmHome,
      HELM_CACHE_HOME: path.join(helmHome, 'cache'),
      HELM_CONFIG_HOME: path.join(helmHome, 'config'),
      HELM_DATA_HOME: path.join(helmHome, 'data'),
      KUBECONFIG: kubeconfig,
    },
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** --set flags from a flat record. */
function sets(values: Record<string, string | number>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

async function render(chart: string, releaseName: string, namespace: string, args: string[]): Promise<K8sObject[]> {
  const r = await helm(['template', releaseName, chart, '--namespace', namespace, ...args]);
  expect(r.stderr, r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return parseAllDocuments(r.stdout)
    .map((doc) => {
      expect(doc.errors).toEqual([]);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

function only(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0]!;
}

function envOf(container: any): Record<string, any> {
  return Object.fromEntries((container.env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]));
}

const agentValues = {
  'hub.url': 'https://distr.example.com',
  'target.id': '5f0c6a1e-2b7d-4c39-9a8e-0d1f2e3a4b5c',
  'target.secret': 's3cr3t-value',
};

describe('chart-testing lint', () => {
  // `ct lint` runs `helm lint --strict` once per ci/*-values.yaml file (or on the defaults when a
  // chart has none); both charts need values a user must give, so both ship ci/ files.
  for (const chart of [agentChart, hubChart]) {
    test(`helm lint --strict ${path.basename(chart)} with each ci/*-values.yaml`, async () => {
      const files = (await readdir(path.join(chart, 'ci'))).filter((f) => f.endsWith('-values.yaml'));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const r = await helm(['lint', '--strict', chart, '--values', path.join(chart, 'ci', file)]);
        expect(r.exitCode, `${file}: ${r.stdout}${r.stderr}`).toBe(0);
      }
    });
  }
});

describe('distr-agent chart', () => {
  test('helm lint --strict passes with the required values, in both scopes', async () => {
    for (const scope of ['namespace', 'cluster']) {
      const r = await helm(['lint', '--strict', agentChart, ...sets({ ...agentValues, scope })]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('0 chart(s) failed');
    }
  });

  test('the install command the hub prints renders (namespace scope: Role + RoleBinding)', async () => {
    // Same flags as `helm install distr-agent ./charts/distr-agent --namespace <ns> --create-namespace --set ...`.
    const objects = await render(agentChart, 'distr-agent', 'acme-prod', [
      '--create-namespace',
      ...sets({ ...agentValues, scope: 'namespace' }),
    ]);
    const kinds = objects.map((o) => o.kind).sort();
    expect(kinds).toEqual(['Deployment', 'Role', 'RoleBinding', 'Secret', 'ServiceAccount']);
    expect(kinds).not.toContain('ClusterRole');
    expect(kinds).not.toContain('ClusterRoleBinding');

    const role = only(objects, 'Role');
    expect(role.metadata.namespace).toBe('acme-prod');
    expect(role.rules).toEqual([{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]);

    const binding = only(objects, 'RoleBinding');
    const sa = only(objects, 'ServiceAccount');
    expect(binding.metadata.namespace).toBe('acme-prod');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'acme-prod' }]);

    for (const o of objects) {
      expect(o.metadata.namespace).toBe('acme-prod');
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'distr-agent',
        'app.kubernetes.io/instance': 'distr-agent',
        'app.kubernetes.io/managed-by': 'Helm',
      });
    }
  });

  test('cluster scope renders ClusterRole + ClusterRoleBinding and no Role', async () => {
    const objects = await render(agentChart, 'distr-agent', 'distr-system', sets({ ...agentValues, scope: 'cluster' }));
    const kinds = objects.map((o) => o.kind).sort();
    expect(kinds).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'Secret', 'ServiceAccount']);

    const role = only(objects, 'ClusterRole');
    expect(role.metadata.namespace).toBeUndefined();
    expect(role.rules).toEqual([{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]);
    // Cluster-wide names carry the namespace, so agents in two namespaces do not collide.
    expect(role.metadata.name).toContain('distr-system');

    const binding = only(objects, 'ClusterRoleBinding');
    const sa = only(objects, 'ServiceAccount');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'distr-system' }]);

    const container = only(objects, 'Deployment').spec.template.spec.containers[0];
    expect(envOf(container).DISTR_SCOPE).toBe('cluster');
  });

  test('the Deployment runs one agent with the expected env, mounts and security context', async () => {
    const objects = await render(agentChart, 'distr-agent', 'acme-prod', sets(agentValues));
    const deployment = only(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(deployment.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'distr-agent',
      'app.kubernetes.io/instance': 'distr-agent',
    });

    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(only(objects, 'ServiceAccount').metadata.name);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.containers).toHaveLength(1);
    const container = pod.containers[0];
    expect(container.image).toBe('ghcr.io/distr-ts/kubernetes-agent:0.1.0');
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(container.resources.requests).toBeDefined();

    const env = envOf(container);
    expect(env).toMatchObject({
      DISTR_HUB_URL: 'https://distr.example.com',
      DISTR_TARGET_ID: agentValues['target.id'],
      DISTR_TARGET_SECRET_FILE: '/var/run/distr/secret',
      DISTR_AGENT_DRIVER: 'kubernetes',
      DISTR_NAMESPACE: 'acme-prod',
      DISTR_SCOPE: 'namespace',
      DISTR_AGENT_STATE_DIR: '/var/lib/distr-agent',
      LOG_LEVEL: 'info',
    });
    // The secret itself never appears in the pod spec.
    expect(JSON.stringify(deployment)).not.toContain('s3cr3t-value');
    // Helm writes its homes under the writable /tmp.
    for (const name of ['HELM_CACHE_HOME', 'HELM_CONFIG_HOME', 'HELM_DATA_HOME']) {
      expect(env[name]).toMatch(/^\/tmp\//);
    }

    // The target secret is a file: Secret key "secret" mounted at /var/run/distr/secret.
    const secret = only(objects, 'Secret');
    expect(Buffer.from(secret.data.secret, 'base64').toString()).toBe('s3cr3t-value');
    const mounts = Object.fromEntries((container.volumeMounts as any[]).map((m) => [m.name, m]));
    const volumes = Object.fromEntries((pod.volumes as any[]).map((v) => [v.name, v]));
    const secretMount = (container.volumeMounts as any[]).find((m) => m.mountPath === '/var/run/distr');
    expect(secretMount).toBeDefined();
    expect(secretMount.readOnly).toBe(true);
    expect(volumes[secretMount.name].secret).toMatchObject({
      secretName: secret.metadata.name,
      items: [{ key: 'secret', path: 'secret' }],
    });
    // State dir and /tmp are emptyDirs (the root filesystem is read-only).
    const byPath = (p: string) => (container.volumeMounts as any[]).find((m) => m.mountPath === p);
    expect(volumes[byPath('/var/lib/distr-agent').name].emptyDir).toBeDefined();
    expect(volumes[byPath('/tmp').name].emptyDir).toBeDefined();
    expect(Object.keys(mounts)).toHaveLength(3);

    // A changed secret restarts the pod.
    expect(deployment.spec.template.metadata.annotations['checksum/secret']).toMatch(/^[0-9a-f]{64}$/);
  });

  test('image.tag overrides the appVersion tag', async () => {
    const objects = await render(agentChart, 'a', 'ns', sets({ ...agentValues, 'image.tag': '1.2.3' }));
    expect(only(objects, 'Deployment').spec.template.spec.containers[0].image).toBe(
      'ghcr.io/distr-ts/kubernetes-agent:1.2.3',
    );
  });

  test('target.existingSecret: no chart Secret, the existing one is mounted', async () => {
    const { 'target.secret': _secret, ...rest } = agentValues;
    const objects = await render(
      agentChart,
      'distr-agent',
      'acme-prod',
      sets({ ...rest, 'target.existingSecret': 'agent-creds', 'target.existingSecretKey': 'token' }),
    );
    expect(objects.map((o) => o.kind)).not.toContain('Secret');
    const pod = only(objects, 'Deployment').spec.template.spec;
    const volume = (pod.volumes as any[]).find((v) => v.secret);
    expect(volume.secret).toMatchObject({ secretName: 'agent-creds', items: [{ key: 'token', path: 'secret' }] });
    expect(envOf(pod.containers[0]).DISTR_TARGET_SECRET_FILE).toBe('/var/run/distr/secret');
  });

  test('a missing hub.url fails lint and template with a schema error naming it', async () => {
    const { 'hub.url': _url, ...rest } = agentValues;
    const lint = await helm(['lint', '--strict', agentChart, ...sets(rest)]);
    expect(lint.exitCode).not.toBe(0);
    expect(lint.stdout + lint.stderr).toContain('hub.url');

    const tpl = await helm(['template', 'distr-agent', agentChart, ...sets(rest)]);
    expect(tpl.exitCode).not.toBe(0);
    expect(tpl.stderr).toMatch(/schema/);
    expect(tpl.stderr).toContain('hub.url');
  });

  test('other invalid values fail with a schema error naming them', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ 'hub.url': 'https://h.example.com', 'target.secret': 'x' }, 'target.id'],
      [{ 'hub.url': 'https://h.example.com', 'target.id': 'abc' }, 'target.secret'],
      [{ ...agentValues, scope: 'everything' }, 'scope'],
      [{ ...agentValues, 'hub.url': 'distr.example.com' }, 'hub.url'],
      [{ ...agentValues, 'hub.ulr': 'https://typo.example.com' }, 'ulr'],
    ];
    for (const [values, mention] of cases) {
      const r = await helm(['template', 'distr-agent', agentChart, ...sets(values)]);
      expect(r.exitCode, JSON.stringify(values)).not.toBe(0);
      expect(r.stderr).toMatch(/schema/);
      expect(r.stderr).toContain(mention);
    }
  });

  test('helm package builds the chart archive', async () => {
    const out = path.join(helmHome, 'packages');
    const r = await helm(['package', agentChart, '--destination', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(path.join(out, 'distr-agent-0.1.0.tgz'))).toBe(true);
  });
});

const hubValues = { 'database.url': 'postgres://distr:pw@postgres.db.svc:5432/distr' };
const jwtSecret = 'a'.repeat(16) + 'b'.repeat(16);

describe('distr-hub chart', () => {
  test('helm lint --strict passes with a database, with and without ingress', async () => {
    const variants: Array<Record<string, string>> = [{}, { 'ingress.enabled': 'true', 'ingress.className': 'nginx' }];
    for (const extra of variants) {
      const r = await helm(['lint', '--strict', hubChart, ...sets({ ...hubValues, publicUrl: 'https://distr.example.com', ...extra })]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    }
  });

  test('renders 2 replicas, port 8080 behind a ClusterIP Service on 80, probes and env', async () => {
    const objects = await render(hubChart, 'distr', 'distr', [
      ...sets({ ...hubValues, publicUrl: 'https://distr.example.com', 'jwt.secret': jwtSecret }),
    ]);
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'Secret', 'Service', 'ServiceAccount']);

    const deployment = only(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    const container = deployment.spec.template.spec.containers[0];
    expect(container.image).toBe('ghcr.io/distr-ts/hub:0.1.0');
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);

    const secret = only(objects, 'Secret');
    const env = envOf(container);
    expect(env.PORT).toBe('8080');
    expect(env.DISTR_PUBLIC_URL).toBe('https://distr.example.com');
    expect(env.LOG_LEVEL).toBe('info');
    expect(env.DATABASE_URL).toEqual({ secretKeyRef: { name: secret.metadata.name, key: 'DATABASE_URL' } });
    expect(env.DISTR_JWT_SECRET).toEqual({ secretKeyRef: { name: secret.metadata.name, key: 'DISTR_JWT_SECRET' } });
    expect(Buffer.from(secret.data.DATABASE_URL, 'base64').toString()).toBe(hubValues['database.url']);
    expect(Buffer.from(secret.data.DISTR_JWT_SECRET, 'base64').toString()).toBe(jwtSecret);
    expect(JSON.stringify(deployment)).not.toContain('postgres://');

    const service = only(objects, 'Service');
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
  });

  test('replicas is configurable and the JWT secret is optional', async () => {
    const objects = await render(hubChart, 'distr', 'distr', sets({ ...hubValues, replicas: 3 }));
    const deployment = only(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(3);
    const env = envOf(deployment.spec.template.spec.containers[0]);
    expect(env).not.toHaveProperty('DISTR_JWT_SECRET');
    expect(env).not.toHaveProperty('DISTR_PUBLIC_URL');
    expect(only(objects, 'Secret').data).not.toHaveProperty('DISTR_JWT_SECRET');
  });

  test('existing Secrets are referenced and no chart Secret is rendered', async () => {
    const objects = await render(
      hubChart,
      'distr',
      'distr',
      sets({
        'database.existingSecret': 'pg-app',
        'database.existingSecretKey': 'uri',
        'jwt.existingSecret': 'hub-jwt',
      }),
    );
    expect(objects.map((o) => o.kind)).not.toContain('Secret');
    const env = envOf(only(objects, 'Deployment').spec.template.spec.containers[0]);
    expect(env.DATABASE_URL).toEqual({ secretKeyRef: { name: 'pg-app', key: 'uri' } });
    expect(env.DISTR_JWT_SECRET).toEqual({ secretKeyRef: { name: 'hub-jwt', key: 'DISTR_JWT_SECRET' } });
  });

  test('ingress is off by default and routes to the Service when enabled', async () => {
    const objects = await render(
      hubChart,
      'distr',
      'distr',
      sets({
        ...hubValues,
        'ingress.enabled': 'true',
        'ingress.className': 'nginx',
        'ingress.hosts[0].host': 'hub.example.com',
        'ingress.hosts[0].paths[0].path': '/',
        'ingress.tls[0].secretName': 'hub-tls',
        'ingress.tls[0].hosts[0]': 'hub.example.com',
      }),
    );
    const ingress = only(objects, 'Ingress');
    const service = only(objects, 'Service');
    expect(ingress.spec.ingressClassName).toBe('nginx');
    expect(ingress.spec.tls).toEqual([{ hosts: ['hub.example.com'], secretName: 'hub-tls' }]);
    expect(ingress.spec.rules[0].host).toBe('hub.example.com');
    expect(ingress.spec.rules[0].http.paths[0]).toEqual({
      path: '/',
      pathType: 'Prefix',
      backend: { service: { name: service.metadata.name, port: { name: 'http' } } },
    });
  });

  test('pods carry Prometheus scrape annotations; a ServiceMonitor is optional', async () => {
    const plain = await render(hubChart, 'distr', 'distr', sets(hubValues));
    expect(only(plain, 'Deployment').spec.template.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8080',
      'prometheus.io/path': '/metrics',
    });
    expect(plain.filter((o) => o.kind === 'ServiceMonitor')).toEqual([]);
    const monitored = await render(hubChart, 'distr', 'distr', sets({ ...hubValues, 'metrics.serviceMonitor.enabled': 'true', 'metrics.serviceMonitor.labels.release': 'prom' }));
    const monitor = only(monitored, 'ServiceMonitor');
    expect(monitor.metadata.labels?.release).toBe('prom');
    expect(monitor.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s' }]);
    expect(monitor.spec.selector.matchLabels).toEqual(only(monitored, 'Service').spec.selector);
  });

  test('without database.url or database.existingSecret lint and template fail naming database', async () => {
    const lint = await helm(['lint', '--strict', hubChart]);
    expect(lint.exitCode).not.toBe(0);
    expect(lint.stdout + lint.stderr).toContain('database');

    const tpl = await helm(['template', 'distr', hubChart]);
    expect(tpl.exitCode).not.toBe(0);
    expect(tpl.stderr).toMatch(/schema/);
    expect(tpl.stderr).toContain('database');

    const badUrl = await helm(['template', 'distr', hubChart, ...sets({ 'database.url': 'mysql://x/y' })]);
    expect(badUrl.exitCode).not.toBe(0);
    expect(badUrl.stderr).toContain('database.url');
  });

  test('a JWT secret shorter than the hub accepts (32 characters) fails the schema', async () => {
    const r = await helm(['template', 'distr', hubChart, ...sets({ ...hubValues, 'jwt.secret': 'short' })]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('jwt.secret');
  });
});

describe('both charts installed on a real Kubernetes API server', () => {
  test('distr-agent (both scopes) and distr-hub install with --wait; the API server accepts every object', async () => {
    const kube = await adminKube();
    const namespaces: Array<{ name: string; remove(): Promise<void> }> = [];
    try {
      for (const scope of ['namespace', 'cluster']) {
        const ns = await createNamespace(kube, `chart-agent-${scope.slice(0, 2)}`);
        namespaces.push(ns);
        const r = await helm(['install', 'distr-agent', agentChart, '-n', ns.name, '--wait', '--timeout', '120s', ...sets({ ...agentValues, scope })], kube.kubeconfigPath);
        expect(r.exitCode, r.stderr).toBe(0);
        const deployment = await kube.get('Deployment', ns.name, 'distr-agent');
        expect(deployment?.status?.readyReplicas).toBe(1);
        if (scope === 'cluster') {
          expect(await kube.get('ClusterRoleBinding', null, `${ns.name}-distr-agent`)).toBeDefined();
          // helm uninstall removes the cluster-wide objects too.
          expect((await helm(['uninstall', 'distr-agent', '-n', ns.name, '--wait'], kube.kubeconfigPath)).exitCode).toBe(0);
          expect(await kube.get('ClusterRole', null, `${ns.name}-distr-agent`)).toBeUndefined();
        } else {
          expect(await kube.get('Role', ns.name, 'distr-agent')).toBeDefined();
        }
      }
      const ns = await createNamespace(kube, 'chart-hub');
      namespaces.push(ns);
      const r = await helm(['install', 'distr', hubChart, '-n', ns.name, '--wait', '--timeout', '120s', ...sets({ ...hubValues, 'jwt.secret': jwtSecret, 'ingress.enabled': 'true' })], kube.kubeconfigPath);
      expect(r.exitCode, r.stderr).toBe(0);
      const hub = (await kube.list('Deployment', ns.name))[0];
      expect(hub?.status).toMatchObject({ replicas: 2, readyReplicas: 2 });
      expect((await kube.list('Ingress', ns.name)).length).toBe(1);
    } finally {
      for (const ns of namespaces) await ns.remove();
    }
  });
});
