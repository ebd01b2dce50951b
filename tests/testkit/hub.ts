import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import type { EntityManager } from '@mikro-orm/postgresql';
import { startHub, type RunningHub } from '../../server/app.js';
import { parseHubEnv } from '../../server/env.js';
import { createLogger } from '../../server/logger.js';
import { ApiKey } from '../../server/auth/entities.js';
import { formatApiKey } from '../../server/auth/api-keys.js';
import { hashSecret, newSecret } from '../../server/auth/secrets.js';
import { createOrganizationWithAdmin } from '../../server/orgs/service.js';
import type { Role } from '../../server/orgs/entities.js';
import { freePort } from '../../server/db/embedded.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Tests run without a network: charts at made-up URLs (oci://registry.example/…) are created
 * unchecked with a warning, and images are not looked up. Tests of the checks themselves
 * (tests/version-checks.test.ts) override these.
 */
export const CHECKS_OFFLINE = { DISTR_ALLOW_UNCHECKED_CHARTS: 'true', DISTR_CHECK_IMAGES: 'false' } as const;

export interface TestHub {
  url: string;
  /** The bootstrap admin key of the first organization. */
  apiKey: string;
  hub: RunningHub;
  em(): EntityManager;
  close(): Promise<void>;
}

/** A hub in this process on a free port, on the given (fresh) database. */
export async function startTestHub(databaseUrl: string, env: Record<string, string> = {}): Promise<TestHub> {
  const hubEnv = parseHubEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', DISTR_KEEPALIVE_SECONDS: '2', ...CHECKS_OFFLINE, ...env });
  const hub = await startHub(hubEnv, databaseUrl, createLogger(hubEnv.LOG_LEVEL));
  if (!hub.bootstrapKey) throw new Error('test hub expected an empty database');
  return {
    url: hub.url,
    apiKey: hub.bootstrapKey,
    hub,
    em: () => hub.runtime.rootEm.fork(),
    close: () => hub.close(),
  };
}

/** Another organization with an admin, and an API key for it with the given role cap. */
export async function seedOrganization(em: EntityManager, name: string, roleCap: Role = 'admin'): Promise<{ organizationId: string; apiKey: string }> {
  const { organization, user } = await createOrganizationWithAdmin(em, {
    organizationName: name,
    adminEmail: `admin@${name.toLowerCase().replace(/[^a-z0-9]/g, '')}.test`,
    adminName: name,
  });
  const secret = newSecret();
  const key = em.create(ApiKey, { organization, user, name: 'test', secretHash: hashSecret(secret), roleCap });
  await em.flush();
  return { organizationId: organization.id, apiKey: formatApiKey(key.id, secret) };
}

export interface HubProcess {
  url: string;
  /** null: the hub ran its embedded PostgreSQL. */
  databaseUrl: string | null;
  port: number;
  bootstrapKey: string | null;
  process: ResultPromise;
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
}

/**
 * The hub as a real OS process (`node --import tsx server/main.ts`), for restart and replica
 * tests; with databaseUrl null it starts its embedded PostgreSQL (give it DISTR_DATA_DIR).
 */
export async function spawnHub(databaseUrl: string | null, opts: { port?: number; env?: Record<string, string> } = {}): Promise<HubProcess> {
  const port = opts.port ?? (await freePort());
  let out = '';
  // Run node directly (not npx) so signals reach the hub itself.
  const child = execa(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: repoRoot,
    env: { DATABASE_URL: databaseUrl ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', DISTR_KEEPALIVE_SECONDS: '2', ...CHECKS_OFFLINE, ...opts.env },
    reject: false,
    all: true,
  });
  child.all!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('hub listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`hub did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const key = /Admin API key \(shown once\): (\S+)/.exec(out)?.[1] ?? null;
  return {
    url: `http://127.0.0.1:${port}`,
    databaseUrl,
    port,
    bootstrapKey: key,
    process: child,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await child;
    },
  };
}
