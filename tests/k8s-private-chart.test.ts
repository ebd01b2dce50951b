/**
 * A private OCI chart through the Kubernetes driver: the chart is pushed with the real helm to the
 * real registry (htpasswd), and the driver installs it only with the deployment's credential,
 * handed to helm through its own --registry-config option.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentApplyError } from '../agent/core/driver.js';
import { ctx, observeUntil, useKubernetesDriverSuite } from './testkit/k8s-driver.js';
import { startTestRegistry, type TestRegistry } from './testkit/registry.js';

const suite = useKubernetesDriverSuite();
const { setup } = suite;
let registry: TestRegistry;

beforeAll(async () => {
  registry = await startTestRegistry();
});
afterAll(async () => {
  await registry?.stop();
});

describe('KubernetesDriver with a private OCI chart in the real registry', () => {
  it('fails with the registry reason without a credential and installs with it', async () => {
    const chartUrl = await registry.pushChart(path.join(suite.repo.dir, 'web-1.1.0.tgz'), 'private');
    const f = await setup();
    const driver = f.newDriver({ plainHttp: true });
    const chart = { type: 'oci' as const, url: chartUrl, name: null, version: '1.1.0', digest: null };
    const refused = await driver.apply(f.desired({ chart }), ctx()).then(() => null, (e: Error) => e);
    expect(refused?.message).toMatch(/unauthorized|authorization failed|no basic auth credentials|401/i);
    // Permanent: the agent reports it once and waits for another credential or revision.
    expect(refused).toBeInstanceOf(PermanentApplyError);
    const user = registry.users[0]!;
    const deployment = f.desired({ chart, revisionId: 'rev-2', registryAuths: [{ host: registry.host, username: user.username, password: user.password }] });
    await driver.apply(deployment, ctx());
    expect(JSON.parse(await f.helm(['list', '-n', f.namespace, '-o', 'json']))).toMatchObject([{ name: 'web', chart: 'web-1.1.0' }]);
    expect((await observeUntil(driver, deployment, (s) => s.phase === 'healthy')).phase).toBe('healthy');

    // The image pull secret: distr-pull-<release>, dockerconfigjson, passed to the chart by the
    // documented values convention.
    const readAuths = async () => {
      const secret = await f.kube.core.readNamespacedSecret({ name: 'distr-pull-web', namespace: f.namespace });
      expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
      return JSON.parse(Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString()).auths as Record<string, { auth: string }>;
    };
    expect(Buffer.from((await readAuths())[registry.host]!.auth, 'base64').toString()).toBe(`${user.username}:${user.password}`);
    const values = JSON.parse(await f.helm(['get', 'values', 'web', '-n', f.namespace, '-o', 'json']));
    expect(values.imagePullSecrets).toEqual([{ name: 'distr-pull-web' }]);
    expect(values.global.imagePullSecrets).toEqual([{ name: 'distr-pull-web' }]);

    // A rotated credential: the secret is replaced in place, without a helm upgrade.
    const revisionBefore = JSON.parse(await f.helm(['list', '-n', f.namespace, '-o', 'json']))[0].revision;
    await driver.refreshCredentials!({ ...deployment, registryAuths: [{ host: registry.host, username: user.username, password: 'rotated-password' }] } as typeof deployment, ctx());
    expect(Buffer.from((await readAuths())[registry.host]!.auth, 'base64').toString()).toBe(`${user.username}:rotated-password`);
    expect(JSON.parse(await f.helm(['list', '-n', f.namespace, '-o', 'json']))[0].revision).toBe(revisionBefore);

    // Removed with the release.
    await driver.remove(deployment.deploymentId, null, ctx());
    const gone = await f.kube.core.readNamespacedSecret({ name: 'distr-pull-web', namespace: f.namespace }).then(() => 'exists', (e: { code?: number }) => e.code);
    expect(gone).toBe(404);
  });
});
