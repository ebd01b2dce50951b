/**
 * The agent's entry point: config → driver (docker or kubernetes) → hub connection → reconcile
 * until SIGTERM/SIGINT. One process serves one deployment target.
 */
import path from 'node:path';
import { pino } from 'pino';
import { AgentConfigError, parseAgentEnv, type AgentEnv } from './core/env.js';
import { HubClient } from './core/hub-client.js';
import { Agent } from './core/agent.js';
import type { DeploymentDriver } from './core/driver.js';

export const AGENT_VERSION = '0.1.0';

/** Set by scripts/build-agent.ts to the one driver a bundle carries; undeclared when run from source. */
declare const __DISTR_AGENT_BUNDLED_DRIVER__: string | undefined;
const BUNDLED_DRIVER = typeof __DISTR_AGENT_BUNDLED_DRIVER__ === 'string' ? __DISTR_AGENT_BUNDLED_DRIVER__ : null;

// Drivers are imported lazily: each bundle (scripts/build-agent.ts) carries one driver only (the
// docker agent no @kubernetes/client-node, the kubernetes agent no dockerode), and each agent
// loads only the driver it runs.
async function createDriver(env: AgentEnv, logger: pino.Logger): Promise<DeploymentDriver> {
  if (BUNDLED_DRIVER && BUNDLED_DRIVER !== env.DISTR_AGENT_DRIVER) {
    throw new AgentConfigError(`invalid agent configuration:\n  DISTR_AGENT_DRIVER="${env.DISTR_AGENT_DRIVER}": this agent build carries the ${BUNDLED_DRIVER} driver only`);
  }
  if (env.DISTR_AGENT_DRIVER === 'docker') {
    const { DockerDriver } = await import('./docker/driver.js');
    return new DockerDriver({
      workRoot: path.join(env.DISTR_AGENT_STATE_DIR, 'docker'),
      socketPath: env.DOCKER_SOCKET,
      pullPolicy: env.DISTR_DOCKER_PULL_POLICY,
      logger: logger.child({ source: 'docker' }),
    });
  }
  if (!env.DISTR_NAMESPACE) throw new AgentConfigError('invalid agent configuration:\n  DISTR_NAMESPACE="": required for the kubernetes driver');
  const [{ KubeConfig }, { KubernetesDriver }] = await Promise.all([import('@kubernetes/client-node'), import('./kubernetes/driver.js')]);
  const kubeConfig = new KubeConfig();
  if (env.KUBECONFIG) kubeConfig.loadFromFile(env.KUBECONFIG);
  else kubeConfig.loadFromCluster();
  const helmEnv: Record<string, string> = {};
  if (env.KUBECONFIG) helmEnv.KUBECONFIG = env.KUBECONFIG; // helm's other variables (HELM_DRIVER, …) are inherited
  // helm writes a repository cache and registry config: keep them in the (writable) state folder.
  for (const [key, sub] of [['HELM_CACHE_HOME', 'cache'], ['HELM_CONFIG_HOME', 'config'], ['HELM_DATA_HOME', 'data']] as const) {
    helmEnv[key] = env[key] ?? path.join(env.DISTR_AGENT_STATE_DIR, 'helm', sub);
  }
  return new KubernetesDriver({
    kubeConfig,
    stateDir: path.join(env.DISTR_AGENT_STATE_DIR, 'kubernetes'), // older agents' record files, imported once
    targetId: env.DISTR_TARGET_ID,
    scope: env.DISTR_SCOPE,
    namespace: env.DISTR_NAMESPACE,
    helmBinary: env.HELM_BIN,
    helmEnv,
    plainHttp: env.DISTR_HELM_PLAIN_HTTP === 'true',
  });
}

let env: AgentEnv;
try {
  env = parseAgentEnv();
} catch (err) {
  if (err instanceof AgentConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
const logger = pino({ level: env.LOG_LEVEL, base: { service: 'distr-agent', target: env.DISTR_TARGET_ID }, timestamp: pino.stdTimeFunctions.isoTime });
let driver: DeploymentDriver;
try {
  driver = await createDriver(env, logger);
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const hub = new HubClient({
  hubUrl: env.DISTR_HUB_URL,
  targetId: env.DISTR_TARGET_ID,
  secret: env.secret,
  agentVersion: AGENT_VERSION,
  logger: logger.child({ source: 'hub' }),
});
const agent = new Agent({
  hub,
  driver,
  stateDir: env.DISTR_AGENT_STATE_DIR,
  host: env.DISTR_AGENT_HOST,
  logger,
  observeIntervalMs: env.DISTR_OBSERVE_INTERVAL_SECONDS * 1000,
  retryMaxMs: env.DISTR_RETRY_MAX_SECONDS * 1000,
});
const controller = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    logger.info({ signal }, 'stopping');
    controller.abort();
  });
}
logger.info({ hub: env.DISTR_HUB_URL, driver: env.DISTR_AGENT_DRIVER, version: AGENT_VERSION }, 'agent starting');
await agent.start({ signal: controller.signal });
logger.info('agent stopped');
process.exit(0);
