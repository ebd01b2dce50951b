/**
 * Previews of a rollout and of a deployment update (real hub, real PostgreSQL): per deployment the
 * diff of what its agent would receive, secrets redacted, validation findings, typed errors for
 * bad input, and nothing written. Through the API, the SDK and the CLI (a real process).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { execa } from 'execa';
import path from 'node:path';
import { DistrService } from '../client/index.js';
import { DistrInvalidInputError, DistrRuleViolationError } from '../client/errors.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { repoRoot, startTestHub, type TestHub } from './testkit/hub.js';
import { createApplication, createDeployment, createDockerVersion, createKubernetesVersion, createTarget, ok } from './testkit/flow.js';

const BIN = path.join(repoRoot, 'client/cli/bin.js');
const ORG_SECRET = 'org-value-hunter2-Zq9';
const ORG_SECRET_NEW = 'org-value-rotated-Kp4';
const TARGET_SECRET = 'target-only-value-Wx7';

let pg: TestPostgres;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  pg = await startTestPostgres();
});
afterAll(async () => {
  await pg?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function hubWithService() {
  const hub: TestHub = await startTestHub(await pg.freshDatabase('preview'));
  cleanups.push(() => hub.close());
  return { hub, service: new DistrService({ hubUrl: hub.url, apiKey: hub.apiKey }) };
}

const setSecret = (hub: TestHub, input: Record<string, unknown>) =>
  ok(hub.url, `mutation($input: SetSecretInput!) { setSecret(input: $input) { __typename ... on Error { message } } }`, { input }, hub.apiKey).then((d: any) => {
    expect(d.setSecret.__typename).toBe('SecretChange');
  });

/** Rows a preview must not write. */
async function rowCounts(hub: TestHub) {
  const [row] = await hub.em().execute(
    `select (select count(*) from deployment_revision) as revisions, (select count(*) from rollout) as rollouts,
            (select count(*) from rollout_member) as members, (select count(*) from rollout_event) as events,
            (select string_agg(coalesce(helm_options::text, '') || current_revision_id, ',' order by id) from deployment) as pointers`,
  );
  return row;
}

const V1_COMPOSE = `services:
  web:
    image: local/busybox:1
    command: ["sh", "-c", "sleep 3600"]
    environment:
      DB_PASSWORD: \${DB_PASSWORD}
`;
const V2_COMPOSE = `services:
  web:
    image: local/busybox:2
    command: ["sh", "-c", "sleep 3600"]
    environment:
      DB_PASSWORD: \${DB_PASSWORD}
      MODE: \${MODE}
      TAG: \${TAG:?TAG is required}
`;

async function dockerFleet(hub: TestHub) {
  const app = await createApplication(hub.url, hub.apiKey, 'shop', 'docker');
  const v1 = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v1', V1_COMPOSE, 'DB_PASSWORD=${{ secrets.DB_PASSWORD }}\nGREETING=hello\n');
  const v2 = await createDockerVersion(hub.url, hub.apiKey, app.id, 'v2', V2_COMPOSE, 'DB_PASSWORD=${{ secrets.DB_PASSWORD }}\nMODE=fast\n');
  expect(v2.__typename).toBe('ApplicationVersion');
  await setSecret(hub, { name: 'DB_PASSWORD', value: ORG_SECRET });
  const deployments: string[] = [];
  const targets: string[] = [];
  for (const [i, region] of ['eu', 'eu', 'us'].entries()) {
    const target = await createTarget(hub.url, hub.apiKey, { name: `host-${i}`, type: 'docker', labels: [{ key: 'region', value: region }] });
    targets.push(target.id);
    // host-0 sets TAG (v2 requires it) and a target-only secret; the others do not.
    if (i === 0) await setSecret(hub, { name: 'API_TOKEN', value: TARGET_SECRET, targetId: target.id });
    const envFile = i === 0 ? 'TAG=2\nAPI_TOKEN=${{ secrets.API_TOKEN }}\n' : '';
    const d = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: v1.id, docker: { composeType: 'compose', envFile } });
    expect(d.__typename).toBe('Deployment');
    deployments.push(d.id);
  }
  return { app, v1, v2, deployments, targets };
}

describe('previews of a docker rollout and update', () => {
  test('a rollout preview diffs compose file and rendered env file per deployment, secrets redacted, findings per deployment, nothing written', async () => {
    const { hub, service } = await hubWithService();
    const f = await dockerFleet(hub);
    // A rotated organization value: a new revision would render it, the current ones do not.
    await setSecret(hub, { name: 'DB_PASSWORD', value: ORG_SECRET_NEW });
    const before = await rowCounts(hub);
    const preview = await service.rollouts.preview({ applicationId: f.app.id, versionId: f.v2.id, all: true, strategy: { canary: 1, waves: [{ count: 1 }] } });
    expect(await rowCounts(hub)).toEqual(before);
    const text = JSON.stringify(preview);
    for (const value of [ORG_SECRET, ORG_SECRET_NEW, TARGET_SECRET]) expect(text).not.toContain(value);

    expect(preview.waveSizes).toEqual([1, 1, 1]);
    expect(preview.deployments.map((d) => [d.target.name, d.wave, d.fromVersion.name, d.toVersion.name])).toEqual([
      ['host-0', 0, 'v1', 'v2'],
      ['host-1', 1, 'v1', 'v2'],
      ['host-2', 2, 'v1', 'v2'],
    ]);
    const [first, second] = preview.deployments;
    const compose = first!.files.find((x) => x.name === 'compose.yaml')!;
    expect(compose.changed).toBe(true);
    expect(compose.diff).toContain('-    image: local/busybox:1\n+    image: local/busybox:2\n');
    expect(compose.diff).toContain('+      TAG: ${TAG:?TAG is required}\n');
    expect(compose.diff).toMatch(/^--- a\/compose\.yaml\trevision [0-9a-f-]+ \(version v1\)\n\+\+\+ b\/compose\.yaml\tproposed \(version v2\)/m);
    const env = first!.files.find((x) => x.name === '.env')!;
    expect(env.before).toBe("DB_PASSWORD='[redacted secrets.DB_PASSWORD]'\nGREETING=hello\nTAG=2\nAPI_TOKEN='[redacted secrets.API_TOKEN]'\n");
    expect(env.after).toBe("DB_PASSWORD='[redacted secrets.DB_PASSWORD: new value]'\nMODE=fast\nTAG=2\nAPI_TOKEN='[redacted secrets.API_TOKEN]'\n");
    expect(env.diff).toContain("-DB_PASSWORD='[redacted secrets.DB_PASSWORD]'\n-GREETING=hello\n+DB_PASSWORD='[redacted secrets.DB_PASSWORD: new value]'\n+MODE=fast\n");
    expect(first!.secrets).toEqual(['API_TOKEN', 'DB_PASSWORD']);
    // host-0 sets TAG; host-1 does not, so v2 cannot start there: the preview says so before it ships.
    expect(first!.ok).toBe(true);
    expect(second!.ok).toBe(false);
    expect(second!.findings).toEqual([expect.objectContaining({ severity: 'error', code: 'missing_variable', field: 'envFile' })]);
    expect(preview.ok).toBe(false);

    // The same typed errors as createRollout, and still nothing written.
    await expect(service.rollouts.preview({ applicationId: f.app.id, versionId: f.v2.id, selector: 'region=asia' })).rejects.toThrow(/matches no target/);
    const other = await createApplication(hub.url, hub.apiKey, 'other', 'docker');
    const foreign = await createDockerVersion(hub.url, hub.apiKey, other.id, 'x1', V1_COMPOSE);
    const err = await service.rollouts.preview({ applicationId: f.app.id, versionId: foreign.id, all: true }).catch((e) => e);
    expect(err).toBeInstanceOf(DistrRuleViolationError);
    expect(err.rule).toBe('version_of_other_application');
    const eu = await service.rollouts.preview({ applicationId: f.app.id, versionId: f.v2.id, selector: 'region=eu' });
    expect(eu.deployments.map((d) => d.target.name)).toEqual(['host-0', 'host-1']);
    expect(await rowCounts(hub)).toEqual(before);
  });

  test('an update preview: a new env file, a secret not defined for the target, a bad field', async () => {
    const { hub, service } = await hubWithService();
    const f = await dockerFleet(hub);
    const before = await rowCounts(hub);
    const p = await service.rollouts.previewUpdate(f.deployments[1]!, { envFile: 'GREETING=hi\nAPI_TOKEN=${{ secrets.API_TOKEN }}\n' });
    expect(p).toMatchObject({ wave: null, fromVersion: { name: 'v1' }, toVersion: { name: 'v1' }, changed: true, ok: false });
    expect(p.files.find((x) => x.name === 'compose.yaml')).toMatchObject({ changed: false, diff: null });
    expect(p.files.find((x) => x.name === '.env')!.diff).toContain("-GREETING=hello\n+GREETING=hi\n+API_TOKEN='[redacted secrets.API_TOKEN: not defined]'\n");
    // API_TOKEN exists only on host-0: on host-1 the update would be refused; the preview names it.
    expect(p.findings).toContainEqual(expect.objectContaining({ severity: 'error', code: 'secret_missing', message: expect.stringMatching(/"API_TOKEN".*"host-1"/) }));
    const unchanged = await service.rollouts.previewUpdate(f.deployments[0]!, {});
    expect(unchanged.changed).toBe(false);
    await expect(service.rollouts.previewUpdate(f.deployments[0]!, { valuesYaml: 'a: 1\n' })).rejects.toBeInstanceOf(DistrInvalidInputError);
    await expect(service.rollouts.previewUpdate('00000000-0000-4000-8000-000000000000', {})).rejects.toThrow(/not found/);
    expect(await rowCounts(hub)).toEqual(before);
    expect(JSON.stringify(p)).not.toContain(TARGET_SECRET);
  });

  test('the CLI prints the diffs (rollout preview, update --dry-run) without secret values and writes nothing', async () => {
    const { hub } = await hubWithService();
    const f = await dockerFleet(hub);
    const before = await rowCounts(hub);
    const distr = async (args: string[]) => {
      const r = await execa(process.execPath, [BIN, ...args], { env: { DISTR_HUB_URL: hub.url, DISTR_API_KEY: hub.apiKey }, reject: false });
      return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
    };
    const eu = await distr(['rollout', 'preview', 'shop', 'v2', '--selector', 'region=eu', '--canary', '1']);
    expect(eu.exitCode).toBe(1); // host-1 lacks TAG: an error finding
    expect(eu.stdout).toMatch(/^rollout of shop v2: 2 deployments in 2 waves \(1, 1\); some have errors$/m);
    expect(eu.stdout).toMatch(/^== wave 0  host-0  deployment [0-9a-f-]+: v1 -> v2$/m);
    expect(eu.stdout).toContain('+    image: local/busybox:2');
    expect(eu.stdout).toMatch(/^error\s+envFile .*TAG/m);
    expect(eu.stdout).toMatch(/^secrets \(values not shown\): API_TOKEN, DB_PASSWORD$/m);
    const dry = await distr(['update', f.deployments[0]!, '--version', 'v2', '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain("+MODE=fast");
    for (const out of [eu.stdout, dry.stdout]) for (const value of [ORG_SECRET, TARGET_SECRET]) expect(out).not.toContain(value);
    const json = JSON.parse((await distr(['rollout', 'preview', 'shop', 'v2', '--all', '--json'])).stdout);
    expect(json.deployments).toHaveLength(3);
    expect(await rowCounts(hub)).toEqual(before);
  });
});

describe('previews of a kubernetes update and rollout', () => {
  test('chart reference, merged values and helm options diffed, secrets redacted, nothing written', async () => {
    const { hub, service } = await hubWithService();
    const app = await createApplication(hub.url, hub.apiKey, 'shop-k8s', 'kubernetes');
    // A registry that refuses connections: the chart stays unchecked (a warning), nothing waits.
    const chart = { applicationId: app.id, chartType: 'oci', chartUrl: 'oci://127.0.0.1:1/charts/shop' };
    const v1 = await createKubernetesVersion(hub.url, hub.apiKey, { ...chart, name: '1.0.0', chartVersion: '1.0.0', baseValues: 'replicas: 1\nimage:\n  tag: "1.0"\ndb:\n  password: ${{ secrets.DB_PASSWORD }}\n' });
    const v2 = await createKubernetesVersion(hub.url, hub.apiKey, { ...chart, name: '1.1.0', chartVersion: '1.1.0', baseValues: 'replicas: 2\nimage:\n  tag: "1.1"\ndb:\n  password: ${{ secrets.DB_PASSWORD }}\n' });
    expect([v1.__typename, v2.__typename]).toEqual(['ApplicationVersion', 'ApplicationVersion']);
    await setSecret(hub, { name: 'DB_PASSWORD', value: ORG_SECRET });
    const ids: string[] = [];
    for (const name of ['cluster-a', 'cluster-b']) {
      const target = await createTarget(hub.url, hub.apiKey, { name, type: 'kubernetes', namespace: 'shop', scope: 'namespace', labels: [{ key: 'tier', value: name === 'cluster-a' ? 'gold' : 'silver' }] });
      const d = await createDeployment(hub.url, hub.apiKey, { targetId: target.id, versionId: v1.id, kubernetes: { releaseName: 'shop', valuesYaml: `ingress:\n  host: ${name}.example\n` } });
      expect(d.__typename).toBe('Deployment');
      ids.push(d.id);
    }
    const before = await rowCounts(hub);

    const p = await service.rollouts.previewUpdate(ids[0]!, { versionId: v2.id, valuesYaml: 'ingress:\n  host: new.example\n', helmOptions: { atomic: true } });
    expect(p.files.map((x) => [x.name, x.changed])).toEqual([['chart.yaml', true], ['values.yaml', true], ['helm-options.yaml', true]]);
    const [chartFile, values, options] = p.files;
    expect(chartFile!.diff).toContain('-version: 1.0.0\n+version: 1.1.0\n');
    expect(chartFile!.after).toContain('url: oci://127.0.0.1:1/charts/shop');
    expect(values!.before).toBe('db:\n  password: "[redacted secrets.DB_PASSWORD]"\nimage:\n  tag: "1.0"\ningress:\n  host: cluster-a.example\nreplicas: 1\n');
    expect(values!.diff).toContain('-  tag: "1.0"\n+  tag: "1.1"\n');
    expect(values!.diff).toContain('-  host: cluster-a.example\n-replicas: 1\n+  host: new.example\n+replicas: 2\n');
    expect(options!.diff).toContain('-atomic: false\n+atomic: true\n');
    expect(p.secrets).toEqual(['DB_PASSWORD']);
    expect(p.ok).toBe(true);
    expect(p.findings.map((x) => x.code)).toContain('registry_unreachable');
    expect(JSON.stringify(p)).not.toContain(ORG_SECRET);

    const r = await service.rollouts.preview({ applicationId: app.id, versionId: v2.id, selector: 'tier=silver' });
    expect(r.deployments).toHaveLength(1);
    expect(r.deployments[0]).toMatchObject({ target: { name: 'cluster-b' }, wave: 0 });
    const rv = r.deployments[0]!.files.find((x) => x.name === 'values.yaml')!;
    expect(rv.after).toContain('host: cluster-b.example'); // a rollout keeps each deployment's own values
    expect(r.deployments[0]!.files.find((x) => x.name === 'helm-options.yaml')!.changed).toBe(false);
    expect(JSON.stringify(r)).not.toContain(ORG_SECRET);
    await expect(service.rollouts.previewUpdate(ids[0]!, { envFile: 'A=1\n' })).rejects.toBeInstanceOf(DistrInvalidInputError);
    expect(await rowCounts(hub)).toEqual(before);
  });
});
