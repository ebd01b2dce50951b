import { readFileSync } from 'node:fs';
import os from 'node:os';
import { z } from 'zod';
import { ConfigError, parseEnvironment } from '../../protocol/env.js';

/**
 * The agent's configuration, read once from environment variables. All problems are reported
 * together, naming the variable. Nothing else in agent/ reads process.env.
 */
const schema = z
  .object({
    DISTR_HUB_URL: z.string().url('must be the hub URL, e.g. https://hub.example.com'),
    DISTR_TARGET_ID: z.string().uuid('must be the deployment target id (a UUID)'),
    DISTR_TARGET_SECRET: z.string().min(1).optional(),
    /** A file holding the secret (e.g. a mounted Kubernetes Secret); wins over DISTR_TARGET_SECRET. */
    DISTR_TARGET_SECRET_FILE: z.string().optional(),
    DISTR_AGENT_DRIVER: z.enum(['docker', 'kubernetes']),
    /** Small local records (last applied revision per deployment, work folders). */
    DISTR_AGENT_STATE_DIR: z.string().default('/var/lib/distr-agent'),
    /** Seconds between status observations. */
    DISTR_OBSERVE_INTERVAL_SECONDS: z.coerce.number().min(0.1).default(5),
    /** Longest wait between retries of a failed apply. */
    DISTR_RETRY_MAX_SECONDS: z.coerce.number().min(0.1).default(300),
    DISTR_AGENT_HOST: z.string().default(os.hostname()),
    /** docker: when to pull images before `up`. */
    DISTR_DOCKER_PULL_POLICY: z.enum(['always', 'missing', 'never']).default('missing'),
    DOCKER_SOCKET: z.string().default('/var/run/docker.sock'),
    /** kubernetes: the namespace the agent runs in / deploys to, and its scope. */
    DISTR_NAMESPACE: z.string().optional(),
    DISTR_SCOPE: z.enum(['namespace', 'cluster']).default('namespace'),
    HELM_BIN: z.string().default('helm'),
    /** kubeconfig file; in-cluster config when unset. */
    KUBECONFIG: z.string().optional(),
    /** kubernetes: pass --plain-http for oci:// charts (a registry without TLS). */
    DISTR_HELM_PLAIN_HTTP: z.enum(['true', 'false']).default('false'),
    /** helm's cache/config/data folders; default: under DISTR_AGENT_STATE_DIR/helm. */
    HELM_CACHE_HOME: z.string().optional(),
    HELM_CONFIG_HOME: z.string().optional(),
    HELM_DATA_HOME: z.string().optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .refine((e) => e.DISTR_TARGET_SECRET || e.DISTR_TARGET_SECRET_FILE, {
    message: 'set DISTR_TARGET_SECRET or DISTR_TARGET_SECRET_FILE',
    path: ['DISTR_TARGET_SECRET'],
  });

export type AgentEnv = z.infer<typeof schema> & { secret: () => string };

export { ConfigError as AgentConfigError };

export function parseAgentEnv(source: NodeJS.ProcessEnv = process.env): AgentEnv {
  const env = parseEnvironment(schema, source, 'agent');
  // Read the file on every login, so a rotated secret mounted from a Secret is picked up.
  const secret = () => (env.DISTR_TARGET_SECRET_FILE ? readFileSync(env.DISTR_TARGET_SECRET_FILE, 'utf8').trim() : env.DISTR_TARGET_SECRET!);
  return { ...env, secret };
}
