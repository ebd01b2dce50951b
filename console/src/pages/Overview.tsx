import { useCallback, useState } from 'react';
import { DeploymentsDocument, TargetsDocument } from '../generated/graphql.js';
import { request } from '../api.js';
import { recentEvents, useEventTick, useEvents, type OrgEvent } from '../live.js';
import { ErrorNote, Phase, useLoad } from '../ui.js';

export function Overview() {
  const tick = useEventTick();
  const deployments = useLoad(() => request(DeploymentsDocument, { first: 100 }), []);
  const targets = useLoad(() => request(TargetsDocument), []);
  const [phases, setPhases] = useState<Record<string, string>>({});
  const [online, setOnline] = useState<Record<string, boolean>>({});
  useEvents(
    useCallback((e: OrgEvent) => {
      if (e.kind === 'status' && e.deploymentId && e.status) setPhases((p) => ({ ...p, [e.deploymentId!]: e.status!.phase }));
      if (e.kind === 'liveness' && e.targetId) setOnline((o) => ({ ...o, [e.targetId!]: Boolean(e.connected) }));
    }, []),
  );
  const byPhase: Record<string, number> = {};
  for (const d of deployments.data?.deployments.nodes ?? []) {
    const phase = phases[d.id] ?? d.status?.phase ?? 'pending';
    byPhase[phase] = (byPhase[phase] ?? 0) + 1;
  }
  const targetList = targets.data?.deploymentTargets.nodes ?? [];
  const connected = targetList.filter((t) => online[t.id] ?? t.agent.connected).length;
  return (
    <section aria-label="Overview">
      <h1>Overview</h1>
      <ErrorNote error={deployments.error ?? targets.error} />
      <div className="cards">
        {['healthy', 'running', 'progressing', 'error', 'pending'].map((p) => (
          <div className="card" key={p} data-testid={`phase-${p}`}>
            <b>{byPhase[p] ?? 0}</b>
            <Phase phase={p === 'pending' ? null : p} />
          </div>
        ))}
        <div className="card" data-testid="targets-online">
          <b>{connected}</b>targets online
        </div>
        <div className="card" data-testid="targets-offline">
          <b>{targetList.length - connected}</b>targets offline
        </div>
      </div>
      <h2>Latest events</h2>
      {recentEvents.length === 0 ? (
        <p className="empty">No events yet: they appear here as agents connect and report.</p>
      ) : (
        <table data-tick={tick}>
          <tbody>
            {recentEvents.map((e, i) => (
              <tr key={`${e.at}-${i}`}>
                <td>{new Date(e.at).toLocaleTimeString()}</td>
                <td>{e.kind === 'liveness' ? `target ${e.targetId?.slice(0, 8)} ${e.connected ? 'connected' : 'disconnected'}` : <>deployment {e.deploymentId?.slice(0, 8)} <Phase phase={e.status?.phase} /> {e.status?.message}</>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
