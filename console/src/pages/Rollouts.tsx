/**
 * Rollouts: the list (refreshed on status events, which is what moves rollouts on), and one
 * rollout live over its `rolloutProgress` subscription (the first event is its current state):
 * waves with counts, who waits for what, the halting reason, the transitions, and the actions.
 */
import { useEffect, useState } from 'react';
import {
  ConsoleAbortRolloutDocument,
  ConsolePauseRolloutDocument,
  ConsoleResumeRolloutDocument,
  ConsoleRetryRolloutDocument,
  ConsoleRolloutProgressDocument,
  ConsoleRolloutsDocument,
  type ConsoleRolloutFragment,
} from '../generated/graphql.js';
import { expectType, request, subscribe } from '../api.js';
import { useEventTick } from '../live.js';
import { ErrorNote, useLoad } from '../ui.js';

const PAGE = 50;

/** `#/rollouts` (the list) and `#/rollouts/<id>` (one rollout). */
export function Rollouts({ route, canWrite }: { route: string; canWrite: boolean }) {
  const id = /^\/rollouts\/([\w-]+)$/.exec(route)?.[1];
  return id ? <RolloutPage id={id} canWrite={canWrite} /> : <RolloutList />;
}

/** Colours of the deployment phases (style.css), reused: running is progress, halted an error. */
const LOOK: Record<string, string> = { running: 'progressing', completed: 'healthy', halted: 'error', aborted: 'none', paused: 'none', pending: 'none' };

function RolloutState({ state }: { state: string }) {
  return <span className={`phase phase-${LOOK[state] ?? 'none'}`}>{state}</span>;
}

function RolloutList() {
  const tick = useEventTick();
  const list = useLoad(() => request(ConsoleRolloutsDocument, { first: PAGE }), [tick]);
  const rows = list.data?.rollouts.nodes ?? [];
  return (
    <section aria-label="Rollouts">
      <h1>Rollouts</h1>
      <ErrorNote error={list.error} />
      {!list.data && !list.error && <p className="loading">Loading…</p>}
      {list.data && rows.length === 0 && <p className="empty">No rollouts yet: plan one with `distr rollout create` or the API.</p>}
      {rows.length > 0 && (
        <table>
          <thead>
            <tr><th>Application</th><th>Version</th><th>State</th><th>Wave</th><th>Halted because</th><th>Created</th></tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-testid={`rollout-${r.id}`}>
                <td><a href={`#/rollouts/${r.id}`}>{r.application.name}</a></td>
                <td>{r.version.name}</td>
                <td><RolloutState state={r.state} /></td>
                <td>{r.currentWave + 1} / {r.waveCount}</td>
                <td>{r.haltReason}</td>
                <td>{new Date(r.createdAt).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Each action: when it applies, and its mutation (result: the Rollout or a typed error). */
const ACTIONS = {
  pause: { when: ['running'], run: async (id: string) => (await request(ConsolePauseRolloutDocument, { id })).pauseRollout },
  resume: { when: ['paused'], run: async (id: string) => (await request(ConsoleResumeRolloutDocument, { id })).resumeRollout },
  retry: { when: ['halted'], run: async (id: string) => (await request(ConsoleRetryRolloutDocument, { id })).retryRollout },
  abort: { when: ['pending', 'running', 'paused', 'halted'], run: async (id: string) => (await request(ConsoleAbortRolloutDocument, { id })).abortRollout },
} as const;

function RolloutPage({ id, canWrite }: { id: string; canWrite: boolean }) {
  const [rollout, setRollout] = useState<ConsoleRolloutFragment | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => subscribe(ConsoleRolloutProgressDocument, { id }, (d) => (setRollout(d.rolloutProgress), setError(null)), setError), [id]);
  const act = async (name: keyof typeof ACTIONS) => {
    try {
      expectType(await ACTIONS[name].run(id), 'Rollout');
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  if (!rollout) return error ? <ErrorNote error={error} /> : <p className="loading">Loading…</p>;
  const r = rollout;
  return (
    <section aria-label="Rollout">
      <h1>
        {r.application.name} {r.version.name} <RolloutState state={r.state} />
      </h1>
      <p data-testid="rollout-summary">
        Wave {r.currentWave + 1} of {r.waveCount}; canary {r.strategy.canary}, soak {r.strategy.soakSeconds} s, {r.strategy.maxFailed} failure(s) tolerated,
        on failure {r.strategy.onFailure === 'halt_and_rollback' ? 'halt and roll back' : 'halt'}. Created by {r.createdBy}.
      </p>
      {r.haltReason && <p role="alert" className="error" data-testid="halt-reason">Halted: {r.haltReason}</p>}
      <ErrorNote error={error} />
      {canWrite && (
        <p className="actions">
          {(Object.keys(ACTIONS) as (keyof typeof ACTIONS)[])
            .filter((name) => (ACTIONS[name].when as readonly string[]).includes(r.state))
            .map((name) => (
              <button key={name} onClick={() => void act(name)}>{name[0]!.toUpperCase() + name.slice(1)}</button>
            ))}
        </p>
      )}
      <h2>Waves</h2>
      <table aria-label="Waves">
        <thead>
          <tr><th>Wave</th><th>Size</th><th>State</th><th>Deployments</th></tr>
        </thead>
        <tbody>
          {r.waves.map((w) => (
            <tr key={w.index} data-testid={`wave-${w.index}`}>
              <td>{w.index === 0 ? 'canary' : w.index}</td>
              <td>{w.size}</td>
              <td>{w.state}</td>
              <td>{Object.entries(w.counts as Record<string, number>).map(([state, n]) => `${n} ${state}`).join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Deployments</h2>
      <table aria-label="Members">
        <thead>
          <tr><th>Wave</th><th>Target</th><th>State</th><th>Waiting for</th><th>Message</th></tr>
        </thead>
        <tbody>
          {r.members.map((m) => (
            <tr key={m.deploymentId} data-testid={`member-${m.target.name}`}>
              <td>{m.wave}</td>
              <td><a href={`#/deployments/${m.deploymentId}`}>{m.target.name}</a></td>
              <td>{m.state}</td>
              <td>{m.waitingFor}</td>
              <td>{m.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Transitions</h2>
      <ol className="events" aria-label="Transitions">
        {r.events.map((e, i) => (
          <li key={i}>
            {new Date(e.at).toLocaleTimeString()} {e.actor}: {e.action} → {e.toState}{e.wave !== null ? ` (wave ${e.wave})` : ''}{e.detail ? ` — ${e.detail}` : ''}
          </li>
        ))}
      </ol>
    </section>
  );
}
