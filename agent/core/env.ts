import { readFileSync } from 'node:fs';
import os from 'node:os';
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { ConfigError, parseEnvironment } from '../../protocol/env.js';

// zod/mini (the same library and checks as `zod`, tree-shakable: the agent bundle carries only the
// schemas below, not all of zod) loads no messages by default; these are zod's English ones.
z.config(en());

const text = () => z.string();
const withDefault = <T extends string>(schema: z.ZodMiniType<T>, value: T) => z._default(schema, value);
const seconds = (fallback: number) => z._default(z.coerce.number().check(z.gte(0.1)), fallback);

/**
 * The agent's configuration, read once from environment variables. All problems are reported
 * together, naming the variable. Nothing else in agent/ reads process.env.
 */
const schema = z
  .object({
    DISTR_HUB_URL: z.url('must be the hub URL, e.g. https://hub.example.com'),
    DISTR_TARGET_ID: z.uuid('must be the deployment target id (a UUID)'),
    DISTR_TARGET_SECRET: z.optional(z.string().check(z.minLength(1))),
    /** A file holding the secret (e.g. a mounted Kubernetes Secret); wins over DISTR_TARGET_SECRET. */
    DISTR_TARGET_SECRET_FILE: z.optional(text()),
    DISTR_AGENT_DRIVER: z.enum(['docker', 'kubernetes']),
    /** Small local records (last applied revision per deployment, work folders). */
    DISTR_AGENT_STATE_DIR: withDefault(text(), '/var/lib/distr-agent'),
    /** Seconds between status observations. */
    DISTR_OBSERVE_INTERVAL_SECONDS: seconds(5),
    /** Longest wait between retries of a failed apply. */
    DISTR_RETRY_MAX_SECONDS: seconds(300),
    DISTR_AGENT_HOST: withDefault(text(), os.hostname()),
    /** docker: when to pull images before `up`. */
    DISTR_DOCKER_PULL_POLICY: withDefault(z.enum(['always', 'missing', 'never']), 'missing'),
    DOCKER_SOCKET: withDefault(text(), '/var/run/docker.sock'),
    /** kubernetes: the namespace the agent runs in / deploys to, and its scope. */
    DISTR_NAMESPACE: z.optional(text()),
    DISTR_SCOPE: withDefault(z.enum(['namespace', 'cluster']), 'namespace'),
    HELM_BIN: withDefault(text(), 'helm'),
    /** kubeconfig file; in-cluster config when unset. */
    KUBECONFIG: z.optional(text()),
    /** kubernetes: pass --plain-http for oci:// charts (a registry without TLS). */
    DISTR_HELM_PLAIN_HTTP: withDefault(z.enum(['true', 'false']), 'false'),
    /** helm's cache/config/data folders; default: under DISTR_AGENT_STATE_DIR/helm. */
    HELM_CACHE_HOME: z.optional(text()),
    HELM_CONFIG_HOME: z.optional(text()),
    HELM_DATA_HOME: z.optional(text()),
    LOG_LEVEL: withDefault(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
  })
  .check(
    z.refine((e) => Boolean(e.DISTR_TARGET_SECRET || e.DISTR_TARGET_SECRET_FILE), {
      message: 'set DISTR_TARGET_SECRET or DISTR_TARGET_SECRET_FILE',
      path: ['DISTR_TARGET_SECRET'],
    }),
  );

export type AgentEnv = z.infer<typeof schema> & { secret: () => string };

export { ConfigError as AgentConfigError };

export function parseAgentEnv(source: NodeJS.ProcessEnv = process.env): AgentEnv {
  const env = parseEnvironment(schema, source, 'agent');
  // Read the file on every login, so a rotated secret mounted from a Secret is picked up.
  const secret = () => (env.DISTR_TARGET_SECRET_FILE ? readFileSync(env.DISTR_TARGET_SECRET_FILE, 'utf8').trim() : env.DISTR_TARGET_SECRET!);
  return { ...env, secret };
}
