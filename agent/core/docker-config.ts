import type { RegistryAuth } from '../../protocol/index.js';

/**
 * A Docker config.json (`{"auths": {HOST: {auth}}}`) for registry credentials: what the docker
 * CLI reads from DOCKER_CONFIG and what a Kubernetes `kubernetes.io/dockerconfigjson` Secret holds.
 */
export function dockerConfigJson(auths: readonly RegistryAuth[]): string {
  const entries = Object.fromEntries(
    auths.map((a) => [a.host === 'docker.io' ? 'https://index.docker.io/v1/' : a.host, { auth: Buffer.from(`${a.username}:${a.password}`).toString('base64') }]),
  );
  return `${JSON.stringify({ auths: entries })}\n`;
}
