import path from 'node:path';
import { z } from 'zod';
import { ConfigError, parseEnvironment } from '../protocol/env.js';

/**
 * The hub's configuration: every environment variable it reads, parsed once at start. Nothing
 * else in server/ reads process.env. All problems are reported together, naming the variable.
 */
const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  /** Folder for the embedded PostgreSQL's data when DATABASE_URL is unset. */
  DISTR_DATA_DIR: z.string().default('.distr'),
  /** Fixed port for the embedded PostgreSQL; a free one when unset. */
  DISTR_EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** Key for agent tokens; replicas must share it. When unset it is generated once and kept in the database. */
  DISTR_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Key (32 bytes, hex or base64) encrypting secrets and registry passwords at rest. */
  DISTR_ENCRYPTION_KEY: z.string().optional(),
  /** File holding that key; default `<DISTR_DATA_DIR>/encryption.key`, created on first run. */
  DISTR_ENCRYPTION_KEY_FILE: z.string().optional(),
  /** Earlier keys, comma-separated, during a rotation: they decrypt; the hub re-encrypts with the current key at start. */
  DISTR_ENCRYPTION_PREVIOUS_KEYS: z.string().optional(),
  /** The URL agents use to reach this hub; goes into install instructions. */
  DISTR_PUBLIC_URL: z.string().url().optional(),
  /** The docker agent image install commands name (scripts/build-agent-image.sh builds it). */
  DISTR_DOCKER_AGENT_IMAGE: z.string().min(1).default('ghcr.io/distr-ts/docker-agent:0.1.0'),
  /** Largest accepted request body. */
  DISTR_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  DISTR_MAX_QUERY_DEPTH: z.coerce.number().int().min(2).default(12),
  DISTR_MAX_QUERY_COST: z.coerce.number().int().min(100).default(20000),
  /** Lifetime of agent tokens. */
  DISTR_AGENT_TOKEN_TTL_SECONDS: z.coerce.number().int().min(10).default(900),
  /** Failed agent logins allowed per target per minute. */
  DISTR_AGENT_LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).default(10),
  /** Seconds between websocket keepalive pings (dead peers are dropped after one missed pong). */
  DISTR_KEEPALIVE_SECONDS: z.coerce.number().min(0.1).default(15),
  /** Print the first-run admin key to this file as well as to the log (used by tests and scripts). */
  DISTR_BOOTSTRAP_KEY_FILE: z.string().optional(),
  /** Air-gapped hubs: create kubernetes versions whose chart registry cannot be reached (with a recorded warning). */
  DISTR_ALLOW_UNCHECKED_CHARTS: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Look up compose images in their registries when checking versions and deployments (where reachable). */
  DISTR_CHECK_IMAGES: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Time allowed for each chart repository / registry request of a check. */
  DISTR_REGISTRY_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(300).default(10),
  /**
   * Browser origins (scheme://host[:port], comma-separated) allowed to call the API cross-origin,
   * with credentials. Empty (the default): no cross-origin access; the console the hub serves
   * itself is same-origin and needs none. Also checked on websocket upgrades.
   */
  DISTR_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((o) => o.trim()).filter((o) => o !== ''))
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'each origin must be scheme://host[:port], without a path'))),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type HubEnv = z.infer<typeof schema> & { dataDir: string };

export { ConfigError };

export function parseHubEnv(source: NodeJS.ProcessEnv = process.env): HubEnv {
  const env = parseEnvironment(schema, source, 'hub');
  return { ...env, dataDir: path.resolve(env.DISTR_DATA_DIR) };
}
