/** What bench:docker and bench:agent-footprint share: the deployed service and the wait for its healthy status. */
import { deploymentStatus } from '../tests/testkit/flow.js';

/** One healthchecked busybox service (local/busybox:test); run `n` changes its command, so compose recreates the container. */
export const busyboxCompose = (n: number) => `services:
  web:
    image: local/busybox:test
    command: ["sh", "-c", "echo run ${n}; sleep 3600"]
    init: true
    network_mode: none
    healthcheck:
      test: ["CMD", "true"]
      interval: 100ms
      retries: 3
`;

/** Poll the API every 10 ms until the deployment is healthy at `revisionId` (the agent's output in the error otherwise). */
export async function waitHealthy(
  hub: { url: string; key: string },
  agentOutput: () => string,
  deploymentId: string,
  revisionId: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const d = await deploymentStatus(hub.url, hub.key, deploymentId);
    if (d.status?.phase === 'healthy' && d.status.revisionId === revisionId) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`deployment ${deploymentId} not healthy at ${revisionId} within ${timeoutMs} ms\n${agentOutput().slice(-3000)}`);
}
