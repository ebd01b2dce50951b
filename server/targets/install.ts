import type { DeploymentTarget } from './entities.js';

export const AGENT_VERSION = '0.1.0';
/** What a release publishes (scripts/build-agent-image.sh builds and tags it locally). */
export const DEFAULT_DOCKER_AGENT_IMAGE = `ghcr.io/distr-ts/docker-agent:${AGENT_VERSION}`;
/** The agent chart the hub serves itself (server/targets/chart-archive.ts). */
export const AGENT_CHART_PATH = `/charts/distr-agent-${AGENT_VERSION}.tgz`;

/** Where the install commands keep the target secret on the host (mode 0600, folder 0700). */
export const SECRET_FOLDER = '$HOME/.distr-agent';

export interface InstallInstructions {
  /** Shell commands to run as printed on the docker host / a machine with helm and cluster access. */
  command: string;
  /** docker only: the same agent as a compose file (the secret file written by the command's first lines). */
  composeFile: string | null;
}

/**
 * Ready-to-run instructions that install the agent for a target of either type. The secret is
 * never part of them: the first line asks for it (`read -s`, a shell builtin: no echo, nothing in
 * `ps` or the shell history) and writes it to a private file; docker mounts that file and the
 * agent reads it through DISTR_TARGET_SECRET_FILE, helm reads it with --set-file. The secret
 * itself is the `secret` field shown once next to these instructions. Names carry the target id,
 * so agents of several targets can share a host; the chart comes from the hub itself.
 */
export function installInstructions(target: DeploymentTarget, hubUrl: string, dockerImage = DEFAULT_DOCKER_AGENT_IMAGE): InstallInstructions {
  const name = `distr-agent-${target.id.slice(0, 8)}`;
  const secretFile = `${SECRET_FOLDER}/${target.id}.secret`;
  const storeSecret = [
    `# Paste the agent secret (shown once by the hub) when asked; it is stored in ${secretFile}.`,
    `mkdir -p "${SECRET_FOLDER}" && chmod 700 "${SECRET_FOLDER}" && read -rs -p 'Agent secret: ' DISTR_SECRET && echo && ` +
      `(umask 077 && printf '%s' "$DISTR_SECRET" > "${secretFile}") && unset DISTR_SECRET`,
  ];
  if (target.type === 'docker') {
    const command = [
      ...storeSecret,
      // Host networking: the agent only dials out (to the hub, to registries), like any host process.
      `docker run -d --name ${name} --restart unless-stopped --network host \\`,
      '  -v /var/run/docker.sock:/var/run/docker.sock \\',
      `  -v ${name}-state:/var/lib/distr-agent \\`,
      `  -v "${secretFile}:/run/secrets/distr-agent-secret:ro" \\`,
      `  -e DISTR_HUB_URL=${hubUrl} \\`,
      `  -e DISTR_TARGET_ID=${target.id} \\`,
      '  -e DISTR_TARGET_SECRET_FILE=/run/secrets/distr-agent-secret \\',
      `  ${dockerImage}`,
    ].join('\n');
    const composeFile = [
      `# After the first two lines of the install command (they store the secret): docker compose up -d`,
      'services:',
      '  agent:',
      `    image: ${dockerImage}`,
      `    container_name: ${name}`,
      '    restart: unless-stopped',
      '    network_mode: host',
      '    environment:',
      `      DISTR_HUB_URL: ${hubUrl}`,
      `      DISTR_TARGET_ID: ${target.id}`,
      '      DISTR_TARGET_SECRET_FILE: /run/secrets/distr-agent-secret',
      '    volumes:',
      '      - /var/run/docker.sock:/var/run/docker.sock',
      '      - state:/var/lib/distr-agent',
      `      - ${secretFile.replace('$HOME', '${HOME}')}:/run/secrets/distr-agent-secret:ro`,
      'volumes:',
      '  state:',
      `    name: ${name}-state`,
      '',
    ].join('\n');
    return { command, composeFile };
  }
  const command = [
    ...storeSecret,
    `helm install ${name} ${hubUrl}${AGENT_CHART_PATH} --namespace ${target.namespace} --create-namespace \\`,
    `  --set hub.url=${hubUrl} \\`,
    `  --set target.id=${target.id} \\`,
    `  --set-file target.secret="${secretFile}" \\`,
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
