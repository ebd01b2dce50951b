import type { DeploymentTarget } from './entities.js';

export const AGENT_VERSION = '0.1.0';
/** What a release publishes (scripts/build-docker-agent-image.sh builds and tags it locally). */
export const DEFAULT_DOCKER_AGENT_IMAGE = `ghcr.io/distr-ts/docker-agent:${AGENT_VERSION}`;
/** The agent chart the hub serves itself (server/targets/chart-archive.ts). */
export const AGENT_CHART_PATH = `/charts/distr-agent-${AGENT_VERSION}.tgz`;

export interface InstallInstructions {
  /** A shell snippet to run as printed on the docker host / a machine with helm and cluster access. */
  command: string;
  /** docker only: the same agent as a compose file (next to the secret file the command writes). */
  composeFile: string | null;
}

/** Short, stable per target: lets several agents (targets) share one docker host. */
const suffix = (target: DeploymentTarget) => target.id.slice(0, 8);

/** Single-quoted for sh: the secret is URL-safe base64, but never trust that in a command. */
const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Ready-to-run instructions that install the agent. The target secret goes into a file (mode
 * 0600) that the agent reads (DISTR_TARGET_SECRET_FILE / --set-file), never onto a command line
 * where `ps` or `docker inspect` would show it.
 */
export function installInstructions(target: DeploymentTarget, hubUrl: string, secret: string, dockerImage = DEFAULT_DOCKER_AGENT_IMAGE): InstallInstructions {
  const name = `distr-agent-${suffix(target)}`;
  if (target.type === 'docker') {
    const dir = `"$HOME/.${name}"`;
    const command = [
      `mkdir -p ${dir} && (umask 077 && printf '%s' ${shQuote(secret)} > ${dir}/target-secret)`,
      `docker run -d --name ${name} --restart unless-stopped --network host \\`,
      '  -v /var/run/docker.sock:/var/run/docker.sock \\',
      `  -v ${name}-state:/var/lib/distr-agent \\`,
      `  -v ${dir}/target-secret:/run/secrets/distr-target-secret:ro \\`,
      `  -e DISTR_HUB_URL=${hubUrl} \\`,
      `  -e DISTR_TARGET_ID=${target.id} \\`,
      '  -e DISTR_TARGET_SECRET_FILE=/run/secrets/distr-target-secret \\',
      `  ${dockerImage}`,
    ].join('\n');
    const composeFile = [
      '# Next to a file target-secret holding the target secret (mode 0600); then: docker compose up -d',
      'services:',
      '  agent:',
      `    image: ${dockerImage}`,
      `    container_name: ${name}`,
      '    restart: unless-stopped',
      '    network_mode: host',
      '    environment:',
      `      DISTR_HUB_URL: ${hubUrl}`,
      `      DISTR_TARGET_ID: ${target.id}`,
      '      DISTR_TARGET_SECRET_FILE: /run/secrets/distr-target-secret',
      '    volumes:',
      '      - /var/run/docker.sock:/var/run/docker.sock',
      '      - state:/var/lib/distr-agent',
      '      - ./target-secret:/run/secrets/distr-target-secret:ro',
      'volumes:',
      '  state:',
      `    name: ${name}-state`,
      '',
    ].join('\n');
    return { command, composeFile };
  }
  const secretFile = `"$HOME/.${name}-secret"`;
  const command = [
    `(umask 077 && printf '%s' ${shQuote(secret)} > ${secretFile})`,
    `helm install ${name} ${hubUrl}${AGENT_CHART_PATH} --namespace ${target.namespace} --create-namespace \\`,
    `  --set hub.url=${hubUrl} \\`,
    `  --set target.id=${target.id} \\`,
    `  --set-file target.secret=${secretFile} \\`,
    `  --set scope=${target.scope}`,
  ].join('\n');
  return { command, composeFile: null };
}

/** Why the printed hub URL may not reach the hub from an agent; null when it looks fine. */
export function hubUrlWarning(hubUrl: string, configured: boolean): string | null {
  let host: string;
  try {
    host = new URL(hubUrl).hostname;
  } catch {
    return `the hub URL ${hubUrl} is not a URL`;
  }
  const loopback = host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
  if (!loopback) return null;
  return configured
    ? `DISTR_PUBLIC_URL (${hubUrl}) is a loopback address: only an agent on the hub's own machine with host networking can reach it`
    : `DISTR_PUBLIC_URL is not set, so install commands point agents at ${hubUrl}, which inside a container or pod is the agent itself; set DISTR_PUBLIC_URL to the URL agents reach the hub at`;
}
