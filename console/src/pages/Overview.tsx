import { FleetSummaryDocument } from '../generated/graphql.js';
import { request } from '../api.js';
import { recentEvents, useEventTick, useThrottledOnEvents } from '../live.js';
import { ErrorNote, Phase, useLoad } from '../ui.js';

/** Re-count at most this often while events arrive (the counts are SQL aggregates on the hub). */
const RECOUNT_MS = 250;

export function Overview() {
  const tick = useEventTick();
  const summary = useLoad(() => request(FleetSummaryDocument), []);
  // Every status or liveness event re-reads the counts (at most once per RECOUNT_MS in a burst).
  useThrottledOnEvents((e) => e.kind === 'status' || e.kind === 'liveness' || e.kind === 'resync', RECOUNT_MS, summary.reload);
  const byPhase: Record<string, number> = {};
  for (const p of summary.data?.fleetSummary.deploymentsByPhase ?? []) byPhase[p.phase] = p.count;
  const connected = summary.data?.fleetSummary.targetsConnected ?? 0;
  const total = summary.data?.fleetSummary.targets ?? 0;
  return (
    <section aria-label="Overview">
      <h1>Overview</h1>
      <ErrorNote error={summary.error} />
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
          <b>{total - connected}</b>targets offline
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
