/**
 * A real image registry for tests: Debian's `docker-registry` (the CNCF distribution registry)
 * on 127.0.0.1 with a free port, filesystem storage in a temp folder and htpasswd (bcrypt)
 * authentication. The test engine reaches it over plain HTTP without daemon flags (dockerd treats
 * 127.0.0.0/8 as insecure by default); helm needs `--plain-http` / `--insecure`.
 *
 * Helpers push the local test image under a name (docker login with a private DOCKER_CONFIG, tag,
 * push, untag) and push packaged charts with the real helm (private helm homes). Installed by
 * scripts/setup-test-env.sh.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import YAML from 'yaml';
import { startTokenServer } from './registry-token.js';

const HELM_BIN = process.env.HELM_BIN ?? fileURLToPath(new URL('../../.bin/helm', import.meta.url));
/** Built by scripts/setup-test-env.sh; the only image on the test engine. */
export const LOCAL_TEST_IMAGE = 'local/busybox:test';

export interface RegistryUser {
  username: string;
  password: string;
}

export interface TestRegistry {
  /** host:port, e.g. for image references `HOST/vendor/app:1` and `oci://HOST/charts`. */
  host: string;
  /** http://host:port */
  url: string;
  /** The users htpasswd accepts; the first is the one the push helpers log in with. */
  users: RegistryUser[];
  /**
   * Tag `source` (default local/busybox:test) as HOST/<name>:<tag>, push it, and remove that
   * local tag again so a later pull really has to come from the registry. Returns the reference.
   */
  pushImage(name: string, options?: { tag?: string; source?: string }): Promise<string>;
  /**
   * `helm push` a packaged chart (.tgz) to oci://HOST/<repository>; returns the chart's oci:// URL
   * without tag (oci://HOST/<repository>/<chart name>).
   */
  pushChart(tgzPath: string, repository?: string): Promise<string>;
  /** GET /v2/<name>/tags/list with the first user's credentials ([] when the repository is unknown). */
  tags(name: string): Promise<string[]>;
  /** What the registry wrote to stdout/stderr so far (its access log names requests and users). */
  output(): string;
  stop(): Promise<void>;
}

/** A fresh user with a random password (never a fixed one: tests grep logs for it). */
export function randomRegistryUser(prefix = 'vendor'): RegistryUser {
  return { username: `${prefix}-${randomBytes(3).toString('hex')}`, password: `pw-${randomBytes(12).toString('hex')}` };
}

const basicAuth = (user: RegistryUser) => `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;

/**
 * `anonymous`: no htpasswd, anyone may pull (and push), as a public registry serves its charts and
 * images; for the hub's own checks and digest pins, which use no credentials. `token`: the users
 * log in through a token server (testkit/registry-token.ts, the bearer flow of hosted registries)
 * instead of htpasswd.
 */
export async function startTestRegistry(options: { users?: RegistryUser[]; anonymous?: boolean; token?: boolean } = {}): Promise<TestRegistry> {
  const users = options.users?.length ? options.users : [randomRegistryUser()];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-test-registry-'));
  const htpasswdLines: string[] = [];
  for (const user of users) {
    htpasswdLines.push((await execa('htpasswd', ['-Bbn', user.username, user.password])).stdout.trim());
  }
  await writeFile(path.join(dir, 'htpasswd'), `${htpasswdLines.join('\n')}\n`, { mode: 0o600 });
  const tokens = options.token ? await startTokenServer(dir, users) : null;
  const auth = tokens
    ? { token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootcertbundle: tokens.rootCertBundle } }
    : { htpasswd: { realm: 'distr-test', path: path.join(dir, 'htpasswd') } };
  const config = {
    version: 0.1,
    log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
    storage: { filesystem: { rootdirectory: path.join(dir, 'data') }, delete: { enabled: true } },
    // Port 0: the registry picks a free port and names it in its "listening on" line.
    http: { addr: '127.0.0.1:0', secret: randomBytes(16).toString('hex') },
    ...(options.anonymous ? {} : { auth }),
  };
  const configPath = path.join(dir, 'config.yml');
  await writeFile(configPath, YAML.stringify(config));

  let out = '';
  const child: ResultPromise = execa('docker-registry', ['serve', configPath], { reject: false, all: true, cleanup: true });
  let exited = false;
  void child.then(() => (exited = true));

  const host = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        child.all!.off('data', onData);
        child.all!.on('data', (c: Buffer) => (out += c.toString()));
        resolve(m[1]!);
      }
    };
    child.all!.on('data', onData);
    void child.then((r) => reject(new Error(`docker-registry exited (${r.exitCode}) before listening:\n${out}`)));
  }).catch(async (error) => {
    await tokens?.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const url = `http://${host}`;

  // Listening is not yet serving: wait until /v2/ answers as an authenticated (or anonymous) registry does.
  const ready = options.anonymous ? 200 : 401;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited during start-up:\n${out}`);
    const status = await fetch(`${url}/v2/`).then((r) => r.status, () => 0);
    if (status === ready) break;
    if (status !== 0) throw new Error(`docker-registry /v2/ answered ${status} without credentials (expected ${ready})`);
    await new Promise((r) => setImmediate(r));
  }

  const dockerConfig = path.join(dir, 'docker-config');
  const helmHome = path.join(dir, 'helm');
  await mkdir(dockerConfig, { recursive: true });
  const dockerEnv = { DOCKER_CONFIG: dockerConfig };
  const helmEnv = {
    HELM_CACHE_HOME: path.join(helmHome, 'cache'),
    HELM_CONFIG_HOME: path.join(helmHome, 'config'),
    HELM_DATA_HOME: path.join(helmHome, 'data'),
  };
  const pusher = users[0]!;
  let dockerLoggedIn = Boolean(options.anonymous);
  let helmLoggedIn = Boolean(options.anonymous);

  return {
    host,
    url,
    users,
    async pushImage(name, { tag = '1', source = LOCAL_TEST_IMAGE } = {}) {
      if (!dockerLoggedIn) {
        await execa('docker', ['login', host, '--username', pusher.username, '--password-stdin'], { env: dockerEnv, input: pusher.password });
        dockerLoggedIn = true;
      }
      const ref = `${host}/${name}:${tag}`;
      await execa('docker', ['tag', source, ref], { env: dockerEnv });
      try {
        await execa('docker', ['push', ref], { env: dockerEnv });
      } finally {
        // Only the tag goes: the image itself stays (it is also `source`).
        await execa('docker', ['rmi', ref], { env: dockerEnv, reject: false });
      }
      return ref;
    },
    async pushChart(tgzPath, repository = 'charts') {
      if (!helmLoggedIn) {
        await execa(HELM_BIN, ['registry', 'login', host, '--username', pusher.username, '--password-stdin', '--insecure'], {
          env: helmEnv,
          input: pusher.password,
        });
        helmLoggedIn = true;
      }
      await execa(HELM_BIN, ['push', tgzPath, `oci://${host}/${repository}`, '--plain-http'], { env: helmEnv });
      const chart = YAML.parse((await execa(HELM_BIN, ['show', 'chart', tgzPath], { env: helmEnv })).stdout) as { name: string };
      return `oci://${host}/${repository}/${chart.name}`;
    },
    async tags(name) {
      let authorization = basicAuth(pusher);
      if (tokens) {
        const token = await fetch(`${tokens.realm}?service=${tokens.service}&scope=repository:${name}:pull`, { headers: { Authorization: authorization } });
        authorization = `Bearer ${((await token.json()) as { token: string }).token}`;
      }
      const res = await fetch(`${url}/v2/${name}/tags/list`, { headers: { Authorization: authorization } });
      if (res.status === 404) return [];
      if (!res.ok) throw new Error(`tags/list ${name}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { tags: string[] | null }).tags ?? [];
    },
    output: () => out,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await child;
      }
      await tokens?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
