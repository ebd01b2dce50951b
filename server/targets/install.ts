import type { DeploymentTarget } from './entities.js';

export const AGENT_VERSION = '0.1.0';
export const DOCKER_AGENT_IMAGE = `ghcr.io/distr-ts/docker-agent:${AGENT_VERSION}`;

/** Ready-to-run instructions that install the agent for a target of either type. */
export function installInstructions(target: DeploymentTarget, hubUrl: string, secret: string): string {
  if (target.type === 'docker') {
    return [
      'docker run -d --name distr-agent --restart unless-stopped \\',
      '  -v /var/run/docker.sock:/var/run/docker.sock \\',
      '  -v distr-agent-state:/var/lib/distr-agent \\',
      `  -e DISTR_HUB_URL=${hubUrl} \\`,
      `  -e DISTR_TARGET_ID=${target.id} \\`,
      `  -e DISTR_TARGET_SECRET=${secret} \\`,
      `  ${DOCKER_AGENT_IMAGE}`,
    ].join('\n');
  }
  return [
    `helm install distr-agent ./charts/distr-agent --namespace ${target.namespace} --create-namespace \\`,
    `  --set hub.url=${hubUrl} \\`,
    `  --set target.id=${target.id} \\`,
    `  --set target.secret=${secret} \\`,
    `  --set scope=${target.scope}`,
  ].join('\n');
}
