/**
 * The docker driver's apply path against the real engine and compose v2: a successful apply runs
 * one compose process (`up`), `config --quiet` runs only after `up` failed to classify the failure,
 * and compose's pull_policy decides pulls (an image present locally under an unreachable registry's
 * name is not pulled with `missing`). Compose is run through a wrapper that records each call.
 * Engine, compose and local/busybox:test come from scripts/setup-test-env.sh.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerDriver } from '../agent/docker/driver.js';
import { PermanentApplyError } from '../agent/core/driver.js';
import type { DockerDesiredDeployment } from '../protocol/index.js';

const SOCKET = '/var/run/docker.sock';
const IMAGE = 'local/busybox:test';
const docker = new Docker({ socketPath: SOCKET });
const RUN_PREFIX = `ap${process.pid}${Math.random().toString(36).slice(2, 6)}`;
/** local/busybox:test under the name of a registry nobody listens on: any pull of it fails. */
const UNREACHABLE_IMAGE = `127.0.0.1:9/distr-test/${RUN_PREFIX}:present`;
const ctx = () => ({ signal: new AbortController().signal });

let dir: string;
let callLog: string;
let counter = 0;

function desired(label: string, composeFile: string): DockerDesiredDeployment {
  counter += 1;
  const name = `${RUN_PREFIX}-${label}-${counter}`;
  return {
    type: 'docker', deploymentId: name, revisionId: 'rev-1', applicationName: 'test app', versionName: '1.0.0',
    restartMarker: null, logsEnabled: false, registryAuths: [], error: null,
    composeType: 'compose', projectName: name, composeFile, envFile: '',
  };
}

function compose(image: string, extra = ''): string {
  return `services:\n  app:\n    image: ${image}\n    network_mode: none\n    init: true\n    command: ["sleep", "3600"]\n${extra}`;
}

const driver = () => new DockerDriver({ workRoot: path.join(dir, 'work'), socketPath: SOCKET, composeCommand: ['bash', path.join(dir, 'compose.sh')] });

/** The compose subcommands run since the last call, in order (`up`, `config`, …). */
async function composeCalls(): Promise<string[]> {
  const text = await readFile(callLog, 'utf8').catch(() => '');
  await writeFile(callLog, '');
  return text.split('\n').filter(Boolean).map((line) => ['up', 'config', 'down'].find((sub) => line.split(' ').includes(sub)) ?? line);
}

async function running(projectName: string): Promise<number> {
  const list = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${projectName}`], status: ['running'] } });
  return list.length;
}

beforeAll(async () => {
  await docker.ping();
  await docker.getImage(IMAGE).inspect(); // from scripts/setup-test-env.sh
  dir = await mkdtemp(path.join(os.tmpdir(), 'distr-apply-path-'));
  callLog = path.join(dir, 'calls.log');
  await writeFile(path.join(dir, 'compose.sh'), `#!/usr/bin/env bash\necho "$*" >> ${JSON.stringify(callLog)}\nexec docker compose "$@"\n`);
  const [repo, tag] = [UNREACHABLE_IMAGE.slice(0, UNREACHABLE_IMAGE.lastIndexOf(':')), 'present'];
  await docker.getImage(IMAGE).tag({ repo, tag });
});

afterAll(async () => {
  for (const c of await docker.listContainers({ all: true })) {
    if ((c.Labels['com.docker.compose.project'] ?? '').startsWith(RUN_PREFIX)) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  await docker.getImage(UNREACHABLE_IMAGE).remove().catch(() => {}); // the tag only; local/busybox:test stays
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('docker apply path (real engine)', () => {
  it('a successful apply runs `docker compose up` only', async () => {
    const d = desired('ok', compose(IMAGE));
    await composeCalls();
    await driver().apply(d, ctx());
    expect(await composeCalls()).toEqual(['up']);
    expect(await running(d.projectName)).toBe(1);
    await driver().remove(d.deploymentId, null, ctx());
  });

  it('a file compose refuses: `up` fails, `config` confirms, PermanentApplyError with config\'s message, nothing starts', async () => {
    const d = desired('invalid', compose(IMAGE, '    environment:\n      NEEDED: ${NEEDED:?must be set}\n'));
    await composeCalls();
    const err = await driver().apply(d, ctx()).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentApplyError);
    expect((err as Error).message).toMatch(/^docker compose config failed: .*NEEDED/s);
    expect(await composeCalls()).toEqual(['up', 'config']);
    expect(await running(d.projectName)).toBe(0);
  });

  it('a valid file whose `up` fails (registry unreachable) keeps up\'s error, retried (not permanent)', async () => {
    const d = desired('pullfails', compose(UNREACHABLE_IMAGE, '    pull_policy: always\n'));
    await composeCalls();
    const err = await driver().apply(d, ctx()).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(PermanentApplyError);
    expect((err as Error).message).toMatch(/^docker compose up failed: .*127\.0\.0\.1:9/s);
    expect(await composeCalls()).toEqual(['up', 'config']);
    await driver().remove(d.deploymentId, null, ctx());
  });

  it('pull_policy missing with the image present: nothing is pulled (no registry reachable) and the service runs', async () => {
    const d = desired('present', compose(UNREACHABLE_IMAGE, '    pull_policy: missing\n'));
    await composeCalls();
    await driver().apply(d, ctx());
    expect(await composeCalls()).toEqual(['up']);
    expect(await running(d.projectName)).toBe(1);
    // No pull_policy at all is compose's default, missing: the same.
    const implicit = desired('implicit', compose(UNREACHABLE_IMAGE));
    await driver().apply(implicit, ctx());
    expect(await running(implicit.projectName)).toBe(1);
    await driver().remove(d.deploymentId, null, ctx());
    await driver().remove(implicit.deploymentId, null, ctx());
  });
});
