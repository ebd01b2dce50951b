/**
 * The restart phase of the propagation benchmark: the hub is killed (SIGKILL: no goodbye to any
 * socket), a new hub process starts on the same port and database, and every agent comes back on
 * its own jittered backoff with the token it holds. As soon as the new hub answers, RESTART_UPDATES
 * updates are made on random targets while the agents are still reconnecting. Done when every agent
 * holds its latest revision: the one it had, or the one made during the storm.
 */
import { performance } from 'node:perf_hooks';
import { RESTART_UPDATES } from './args.js';
import { arrivals, revisionWaiters, type SimAgent } from './agents.js';
import { cpuSeconds, listenOverflows, spawnHub, type Hub } from './hub.js';
import { gqlOk } from './http.js';
import { UPDATE_DEPLOYMENT } from './measure.js';
import { percentile } from './stats.js';
import { log, withTimeout } from './util.js';

export async function measureRestart(old: Hub, databaseUrl: string, agents: SimAgent[], random: () => number) {
  const latest = new Map(agents.map((a) => [a, a.revisionId]));
  const closed = Promise.all(agents.map((a) => a.whenClosed()));
  const overflowsBefore = await listenOverflows();
  const killedAt = performance.now();
  old.child.kill('SIGKILL');
  await closed;
  log(`hub killed; all ${agents.length} sockets closed after ${Math.round(performance.now() - killedAt)} ms`);

  // Each agent starts its backoff when its socket closed, as agent/core does.
  const backAt = new Map<SimAgent, number>();
  let attempts = 0;
  const reconnected = Promise.all(
    agents.map(async (a) => {
      const made = await a.reconnect(old.port);
      attempts += made;
      backAt.set(a, performance.now());
    }),
  );
  const hub = await spawnHub(databaseUrl, { port: old.port, apiKey: old.apiKey });
  const upAt = performance.now();
  log(`new hub pid ${hub.pid} answering ${Math.round(upAt - killedAt)} ms after the kill; ${backAt.size} agents back so far`);

  const updated: Promise<number>[] = [];
  // Each mutation's round trip while the agents come back: does the storm stall the hub?
  const roundTrips: number[] = [];
  for (let i = 0; i < RESTART_UPDATES; i++) {
    const agent = agents[Math.floor(random() * agents.length)]!;
    const sentAt = performance.now();
    const data = await gqlOk(hub.port, hub.apiKey, UPDATE_DEPLOYMENT, { id: agent.seed.deploymentId, input: { envFile: `GREETING=after-restart-${i}\n` } });
    roundTrips.push(performance.now() - sentAt);
    const revisionId: string | undefined = data.updateDeployment?.currentRevision?.id;
    if (!revisionId) throw new Error(`update after restart failed: ${JSON.stringify(data)}`);
    latest.set(agent, revisionId);
    const seen = arrivals.get(revisionId);
    updated.push(seen !== undefined ? Promise.resolve(seen) : new Promise<number>((resolve) => revisionWaiters.set(revisionId, resolve)));
  }
  await withTimeout(reconnected, 600_000, 'every agent to reconnect');
  const updateArrivals = await withTimeout(Promise.all(updated), 60_000, 'the updates made during the reconnect to reach their agents');
  // The new process's whole CPU time: its start, and every agent's reconnect, many of them before
  // the hub's health check got through (it queues behind the agents' handshakes).
  const cpu = await cpuSeconds(hub.pid);
  roundTrips.sort((a, b) => a - b);
  const overflows = (await listenOverflows()) - overflowsBefore;
  const stale = agents.filter((a) => a.revisionId !== latest.get(a)).length;
  if (stale > 0) throw new Error(`${stale} agents do not hold their latest revision after the restart`);
  const allHeldAt = Math.max(...backAt.values(), ...updateArrivals);
  const back = [...backAt.values()].map((t) => t - killedAt).sort((a, b) => a - b);
  log(
    `all ${agents.length} agents hold their latest state ${Math.round(allHeldAt - killedAt)} ms after the kill ` +
      `(${Math.round(allHeldAt - upAt)} ms after the new hub answered; ${attempts} connection attempts; hub cpu ${cpu.toFixed(1)} s)`,
  );
  return {
    hub,
    figures: {
      restart_hub_up_ms: Math.round(upAt - killedAt),
      restart_all_held_ms: Math.round(allHeldAt - killedAt),
      restart_all_held_after_up_ms: Math.round(allHeldAt - upAt),
      restart_back_p50_ms: Math.round(percentile(back, 50)),
      restart_back_p99_ms: Math.round(percentile(back, 99)),
      restart_attempts_per_agent: Math.round((attempts / agents.length) * 100) / 100,
      restart_updates: RESTART_UPDATES,
      restart_update_round_trip_p50_ms: Math.round(percentile(roundTrips, 50)),
      restart_update_round_trip_max_ms: Math.round(roundTrips.at(-1)!),
      restart_hub_cpu_s_with_start: Math.round(cpu * 10) / 10,
      restart_listen_overflows: overflows,
      restart_hub_cpu_ms_per_agent_with_start: Math.round(((cpu * 1000) / agents.length) * 100) / 100,
    },
  };
}
