/**
 * A second, private Docker engine for one test file: its own data and exec roots under a temp
 * folder and its own unix socket, with the flags scripts/setup-test-env.sh gives the shared one
 * (no iptables, no bridge). For what would disturb the shared engine other files use in parallel,
 * e.g. swarm mode. The test image is copied into it with `docker save | docker load`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import Docker from 'dockerode';
import { eventually } from './agent-process.js';

export interface PrivateEngine {
  /** unix:///…/docker.sock, for DOCKER_HOST */
  host: string;
  socketPath: string;
  docker: Docker;
  /** The docker CLI against this engine. */
  cli(args: string[], options?: { input?: string; env?: Record<string, string> }): Promise<string>;
  output(): string;
  stop(): Promise<void>;
}

export async function startPrivateEngine(options: { images?: string[] } = {}): Promise<PrivateEngine> {
  // Short path: a unix socket path has a ~108 byte limit.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dpe-'));
  const socketPath = path.join(dir, 'docker.sock');
  const host = `unix://${socketPath}`;
  let out = '';
  const child: ResultPromise = execa(
    'dockerd',
    [
      '--iptables=false', '--ip6tables=false', '--bridge=none', '--storage-driver=overlay2',
      `--data-root=${path.join(dir, 'data')}`, `--exec-root=${path.join(dir, 'exec')}`,
      `--pidfile=${path.join(dir, 'dockerd.pid')}`, '-H', host,
    ],
    { reject: false, all: true, cleanup: true },
  );
  child.all!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  let exited: string | null = null;
  void child.then((r) => (exited = `dockerd exited (${r.exitCode ?? r.signal})`));
  const docker = new Docker({ socketPath });
  const cli: PrivateEngine['cli'] = async (args, o = {}) =>
    (await execa('docker', args, { input: o.input, env: { ...process.env, ...o.env, DOCKER_HOST: host } })).stdout;
  const engine: PrivateEngine = {
    host,
    socketPath,
    docker,
    cli,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await child;
      await execa('umount', [path.join(dir, 'exec', 'netns', 'default')], { reject: false });
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
  try {
    await eventually(() => docker.ping().then(() => true), 'the private dockerd to answer', 60_000, () => out.slice(-3000), () => exited);
    for (const image of options.images ?? []) {
      // Stream the shared engine's image into this one.
      const saved = await execa('docker', ['save', image], { encoding: 'buffer' });
      await execa('docker', ['load'], { env: { ...process.env, DOCKER_HOST: host }, input: saved.stdout });
    }
  } catch (error) {
    await engine.stop();
    throw error;
  }
  return engine;
}
