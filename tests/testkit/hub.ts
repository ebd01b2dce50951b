import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
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
import type { BusTopics } from '../../server/events/bus.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Tests run without a network: charts at made-up URLs (oci://registry.example/…) are created
 * unchecked with a warning, and images are not looked up. Tests of the checks themselves
 * (tests/version-checks.test.ts) override these.
 */
export const CHECKS_OFFLINE = { DISTR_ALLOW_UNCHECKED_CHARTS: 'true', DISTR_CHECK_IMAGES: 'false' } as const;

/** One encryption key per test process, shared by its hubs (restarts and replicas decrypt alike). */
export const TEST_ENCRYPTION_KEY = randomBytes(32).toString('base64');

export interface TestHub {
  url: string;
  /** The bootstrap admin key of the first organization. */
  apiKey: string;
  /** The first-run admin user's console sign-in. */
  admin: { email: string; password: string };
  hub: RunningHub;
  em(): EntityManager;
  /**
   * Resolves when the next handler for `topic` is registered on this hub's change bus: call it
   * before opening a subscription (a dashboard's organizationEvents listens to statusChanged and
   * livenessChanged), await it after, and the subscription is live — nothing committed from then
   * on is missed. The readiness event for subscriptions that send no initial event.
   */
  nextBusListener(topic: keyof BusTopics): Promise<void>;
  close(): Promise<void>;
}

/** A hub in this process on a free port, on the given (fresh) database. */
export async function startTestHub(databaseUrl: string, env: Record<string, string> = {}, opts: { logLines?: string[] } = {}): Promise<TestHub> {
  const hubEnv = parseHubEnv({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: opts.logLines ? 'info' : 'silent', DISTR_KEEPALIVE_SECONDS: '2', ...CHECKS_OFFLINE, DISTR_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, ...env });
  // With logLines, every JSON log line the hub writes is collected there (as written, after redaction).
  const sink = opts.logLines ? { write: (line: string) => void opts.logLines!.push(line) } : undefined;
  const hub = await startHub(hubEnv, databaseUrl, createLogger(hubEnv.LOG_LEVEL, sink));
  if (!hub.bootstrapKey) throw new Error('test hub expected an empty database');
  const bus = hub.runtime.bus;
  const waiting = new Map<keyof BusTopics, (() => void)[]>();
  const on = bus.on.bind(bus);
  bus.on = ((topic, handler) => {
    const off = on(topic, handler);
    const resolvers = waiting.get(topic) ?? [];
    waiting.delete(topic);
    for (const resolve of resolvers) resolve();
    return off;
  }) as typeof bus.on;
  return {
    url: hub.url,
    apiKey: hub.bootstrapKey,
    admin: hub.bootstrapAdmin!,
    hub,
    em: () => hub.runtime.rootEm.fork(),
    nextBusListener: (topic) => new Promise<void>((resolve) => waiting.set(topic, [...(waiting.get(topic) ?? []), resolve])),
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
  /** The first-run admin user's (admin@localhost) console password. */
  bootstrapPassword: string | null;
  process: ResultPromise;
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
}

/**
 * The hub as a real OS process (`node --import tsx server/main.ts`), for restart and replica
 * tests; with databaseUrl null it starts its embedded PostgreSQL (give it DISTR_DATA_DIR).
 */
/** `entry`: a compiled hub (scripts/build-hub.ts) to run with plain node instead of the sources through tsx. */
export async function spawnHub(databaseUrl: string | null, opts: { port?: number; env?: Record<string, string>; entry?: string } = {}): Promise<HubProcess> {
  const port = opts.port ?? (await freePort());
  let out = '';
  // Run node directly (not npx) so signals reach the hub itself.
  const child = execa(process.execPath, opts.entry ? [opts.entry] : ['--import', 'tsx', 'server/main.ts'], {
    cwd: repoRoot,
    env: { DATABASE_URL: databaseUrl ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', DISTR_KEEPALIVE_SECONDS: '2', ...CHECKS_OFFLINE, DISTR_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, ...opts.env },
    reject: false,
    all: true,
  });
  // Started = its 'hub listening' log line (printed after the first-run key); an exit before it fails.
  await new Promise<void>((resolve, reject) => {
    child.all!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('hub listening')) resolve();
    });
    child.once('exit', (code, signal) => reject(new Error(`hub exited (${code ?? signal}) before listening:\n${out}`)));
  });
  const key = /Admin API key \(shown once\): (\S+)/.exec(out)?.[1] ?? null;
  const password = /password \(shown once\): (\S+)/.exec(out)?.[1] ?? null;
  return {
    url: `http://127.0.0.1:${port}`,
    databaseUrl,
    port,
    bootstrapKey: key,
    bootstrapPassword: password,
    process: child,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await child;
    },
  };
}
