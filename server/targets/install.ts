import type { DeploymentTarget } from './entities.js';

export const AGENT_VERSION = '0.1.0';
export const DOCKER_AGENT_IMAGE = `ghcr.io/distr-ts/docker-agent:${AGENT_VERSION}`;

/** Where the install commands keep the target secret on the host (mode 0600, folder 0700). */
export const SECRET_FOLDER = '$HOME/.distr-agent';

/**
 * Ready-to-run instructions that install the agent for a target of either type. The secret is
 * never part of them: the first line asks for it (`read -s`, a shell builtin: no echo, nothing in
 * `ps` or the shell history) and writes it to a private file; docker mounts that file and the
 * agent reads it through DISTR_TARGET_SECRET_FILE, helm reads it with --set-file. The secret
 * itself is the `secret` field shown once next to these instructions.
 */
export function installInstructions(target: DeploymentTarget, hubUrl: string): string {
  const storeSecret = [
    `# Paste the agent secret (shown once by the hub) when asked; it is stored in ${SECRET_FOLDER}/${target.id}.secret.`,
    `mkdir -p "${SECRET_FOLDER}" && chmod 700 "${SECRET_FOLDER}" && read -rs -p 'Agent secret: ' DISTR_SECRET && echo && ` +
      `(umask 077 && printf '%s' "$DISTR_SECRET" > "${SECRET_FOLDER}/${target.id}.secret") && unset DISTR_SECRET`,
  ];
  if (target.type === 'docker') {
    return [
      ...storeSecret,
      'docker run -d --name distr-agent --restart unless-stopped \\',
      '  -v /var/run/docker.sock:/var/run/docker.sock \\',
      '  -v distr-agent-state:/var/lib/distr-agent \\',
      `  -v "${SECRET_FOLDER}/${target.id}.secret:/run/secrets/distr-agent-secret:ro" \\`,
      `  -e DISTR_HUB_URL=${hubUrl} \\`,
      `  -e DISTR_TARGET_ID=${target.id} \\`,
      '  -e DISTR_TARGET_SECRET_FILE=/run/secrets/distr-agent-secret \\',
      `  ${DOCKER_AGENT_IMAGE}`,
    ].join('\n');
  }
  return [
    ...storeSecret,
    `helm install distr-agent ./charts/distr-agent --namespace ${target.namespace} --create-namespace \\`,
    `  --set hub.url=${hubUrl} \\`,
    `  --set target.id=${target.id} \\`,
    `  --set-file target.secret="${SECRET_FOLDER}/${target.id}.secret" \\`,
    `  --set scope=${target.scope}`,
  ].join('\n');
}
