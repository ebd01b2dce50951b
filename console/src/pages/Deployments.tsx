import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  ApplicationsDocument,
  CreateDeploymentDocument,
  DeleteDeploymentDocument,
  DeploymentDetailDocument,
  DeploymentsDocument,
  ForceRestartDocument,
  LogsDocument,
  TargetsDocument,
  UpdateDeploymentDocument,
  type LogsSubscription,
} from '../generated/graphql.js';
import { expectType, request, subscribe } from '../api.js';
import { useEvents, type OrgEvent } from '../live.js';
import { ErrorNote, Pager, Phase, useLoad, usePages } from '../ui.js';
import { PreviewPane } from './PreviewPane.js';

type Status = NonNullable<OrgEvent['status']>;
/** Rows per page: the hub pages (Relay connection), so 10 000 deployments render as fast as 50. */
const PAGE = 50;
/** Targets offered at once by the New-deployment form (the rest by name search). */
const TARGET_CHOICES = 100;

export function Deployments({ canWrite }: { canWrite: boolean }) {
  const pages = usePages();
  const [creating, setCreating] = useState(false);
  const deployments = useLoad(() => request(DeploymentsDocument, { first: PAGE, after: pages.after }), [pages.after]);
  const [live, setLive] = useState<Record<string, Status>>({});
  useEvents(useCallback((e: OrgEvent) => e.kind === 'status' && e.deploymentId && e.status && setLive((l) => ({ ...l, [e.deploymentId!]: e.status! })), []));
  const list = deployments.data?.deployments.nodes ?? [];
  return (
    <section aria-label="Deployments">
      <h1>Deployments</h1>
      <ErrorNote error={deployments.error} />
      {/* The form's application and target lists load when it opens, so the list renders first. */}
      {canWrite && (creating ? <NewDeployment onDone={(id) => (location.hash = `#/deployments/${id}`)} /> : <button onClick={() => setCreating(true)}>New deployment</button>)}
      {!deployments.data && !deployments.error && <p className="loading">Loading…</p>}
      {deployments.data && list.length === 0 && <p className="empty">No deployments yet.</p>}
      {list.length > 0 && (
        <table>
          <thead>
            <tr><th>Application</th><th>Version</th><th>Target</th><th>Status</th><th>Message</th></tr>
          </thead>
          <tbody>
            {list.map((d) => {
              const s = live[d.id] ?? d.status;
              return (
                <tr key={d.id} data-testid={`deployment-${d.id}`}>
                  <td><a href={`#/deployments/${d.id}`}>{d.application.name}</a></td>
                  <td>{d.currentRevision.version.name}</td>
                  <td>{d.target.name}</td>
                  <td><Phase phase={s?.phase} /></td>
                  <td>{s?.message}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager pages={{ ...pages, endCursor: deployments.data?.deployments.pageInfo.endCursor }} size={PAGE} shown={list.length} hasNext={Boolean(deployments.data?.deployments.pageInfo.hasNextPage)} />
    </section>
  );
}

function NewDeployment({ onDone }: { onDone: (id: string) => void }) {
  const apps = useLoad(() => request(ApplicationsDocument), []);
  const [versionId, setVersion] = useState('');
  const [search, setSearch] = useState('');
  const [searched, setSearched] = useState('');
  useEffect(() => {
    const t = setTimeout(() => setSearched(search.trim()), 300);
    return () => clearTimeout(t);
  }, [search]);
  const [targetId, setTarget] = useState('');
  const [envFile, setEnv] = useState('');
  const [releaseName, setRelease] = useState('');
  const [valuesYaml, setValues] = useState('');
  const [error, setError] = useState<string | null>(null);
  const versions = (apps.data?.applications.nodes ?? []).flatMap((a) => a.versions.filter((v) => !v.archivedAt).map((v) => ({ id: v.id, label: `${a.name} ${v.name}`, type: a.type, appName: a.name, valuesTemplate: v.valuesTemplate })));
  const version = versions.find((v) => v.id === versionId);
  const kubernetes = version?.type === 'kubernetes';
  // Up to TARGET_CHOICES targets of the version's kind, narrowed by name on the hub.
  const targets = useLoad(() => request(TargetsDocument, { first: TARGET_CHOICES, type: version?.type ?? null, nameContains: searched || null }), [version?.type, searched]);
  const targetList = targets.data?.deploymentTargets.nodes ?? [];
  const more = targets.data?.deploymentTargets.pageInfo.hasNextPage;
  return (
    <form
      className="inline"
      aria-label="New deployment"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const input = kubernetes
            ? { versionId, targetId, kubernetes: { releaseName, valuesYaml: valuesYaml || null } }
            : { versionId, targetId, docker: { composeType: 'compose' as const, envFile: envFile || null } };
          const d = expectType((await request(CreateDeploymentDocument, { input })).createDeployment, 'Deployment');
          onDone(d.id);
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <label>
        Version
        <select
          name="versionId"
          value={versionId}
          onChange={(e) => {
            const v = versions.find((x) => x.id === e.target.value);
            setVersion(e.target.value);
            if (v?.type === 'kubernetes') {
              setValues((old) => old || (v.valuesTemplate ?? ''));
              setRelease((old) => old || v.appName.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 53));
            }
          }}
          required
        >
          <option value="">—</option>
          {versions.map((v) => <option key={v.id} value={v.id}>{v.label}</option>)}
        </select>
      </label>
      <label>Find target <input name="targetSearch" type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="name contains…" /></label>
      <label>
        Target
        <select name="targetId" value={targetId} onChange={(e) => setTarget(e.target.value)} required>
          <option value="">{more ? `— first ${TARGET_CHOICES}; narrow with Find target —` : '—'}</option>
          {targetList.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
        </select>
      </label>
      {kubernetes ? (
        <>
          <label>Release name <input name="releaseName" value={releaseName} onChange={(e) => setRelease(e.target.value)} required /></label>
          <label>Values <textarea name="valuesYaml" value={valuesYaml} onChange={(e) => setValues(e.target.value)} /></label>
        </>
      ) : (
        <label>.env <textarea name="envFile" value={envFile} onChange={(e) => setEnv(e.target.value)} /></label>
      )}
      <button type="submit">Deploy</button>
      <ErrorNote error={error} />
    </form>
  );
}

/** A line diff (longest common subsequence), enough for env files and values. */
function diffLines(a: string, b: string): { sign: ' ' | '+' | '-'; text: string }[] {
  const x = a.split('\n'), y = b.split('\n');
  const lcs = x.map(() => new Array<number>(y.length + 1).fill(0));
  lcs.push(new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) for (let j = y.length - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: { sign: ' ' | '+' | '-'; text: string }[] = [];
  let i = 0, j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) out.push({ sign: ' ', text: x[i++]! }), j++;
    else if (j < y.length && (i >= x.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) out.push({ sign: '+', text: y[j++]! });
    else out.push({ sign: '-', text: x[i++]! });
  }
  return out;
}

/** Values of keys that look secret are not shown in diffs. */
const redact = (text: string) => text.replace(/^(\s*[\w.-]*(?:PASSWORD|SECRET|TOKEN|KEY)[\w.-]*\s*[=:]\s*).+$/gim, '$1••••••');

export function DeploymentPage({ id, canWrite }: { id: string; canWrite: boolean }) {
  const detail = useLoad(() => request(DeploymentDetailDocument, { id }), [id]);
  const [error, setError] = useState<string | null>(null);
  const [env, setEnv] = useState<string | null>(null);
  const [pair, setPair] = useState<[string, string] | null>(null);
  useEvents(useCallback((e: OrgEvent) => e.kind === 'status' && e.deploymentId === id && detail.reload(), [id])); // eslint-disable-line react-hooks/exhaustive-deps
  const d = detail.data?.deployment;
  // Kubernetes deployments (a Helm release) are configured by values YAML, docker ones by a .env file.
  const kubernetes = d?.releaseName != null;
  useEffect(() => setEnv((kubernetes ? d?.currentRevision.valuesYaml : d?.currentRevision.envFile) ?? ''), [d?.currentRevision.id]); // eslint-disable-line react-hooks/exhaustive-deps
  const revisions = d?.revisions.nodes ?? [];
  const act = async (run: () => Promise<unknown>) => {
    try {
      await run();
      setError(null);
      detail.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  if (detail.error) return <ErrorNote error={detail.error} />;
  if (!d) return <p className="loading">Loading…</p>;
  const [older, newer] = pair ?? [revisions[1]?.id ?? '', revisions[0]?.id ?? ''];
  const ra = revisions.find((r) => r.id === older), rb = revisions.find((r) => r.id === newer);
  return (
    <section aria-label="Deployment">
      <h1>
        {d.application.name} on {d.target.name} <Phase phase={d.status?.phase} />
      </h1>
      <p data-testid="status-message">{d.status?.message ?? 'Waiting for the agent to report.'}</p>
      <ErrorNote error={error} />
      {d.status && d.status.resources.length > 0 && (
        <table aria-label="Resources">
          <tbody>{d.status.resources.map((r) => <tr key={`${r.kind}/${r.name}`}><td>{r.kind}</td><td>{r.name}</td><td><Phase phase={r.phase} /></td><td>{r.message}</td></tr>)}</tbody>
        </table>
      )}
      {canWrite && (
        <form className="inline" aria-label="Update" onSubmit={(e) => (e.preventDefault(), act(async () => expectType((await request(UpdateDeploymentDocument, { id, input: kubernetes ? { valuesYaml: env ?? '' } : { envFile: env ?? '' } })).updateDeployment, 'Deployment')))}>
          <label>{kubernetes ? 'Values' : '.env'} <textarea name={kubernetes ? 'valuesYaml' : 'envFile'} value={env ?? ''} onChange={(e) => setEnv(e.target.value)} /></label>
          <button type="submit">Update</button>
          <button type="button" onClick={() => act(async () => expectType((await request(ForceRestartDocument, { id })).forceRestartDeployment, 'Deployment'))}>Force restart</button>
          <button
            type="button"
            onClick={() => {
              if (!confirm('Delete this deployment?')) return;
              const removeVolumes = confirm('Also remove its volumes (data is lost)?');
              void act(async () => {
                expectType((await request(DeleteDeploymentDocument, { id, removeVolumes })).deleteDeployment, 'Deleted');
                location.hash = '#/deployments';
              });
            }}
          >
            Delete
          </button>
        </form>
      )}
      {canWrite && <PreviewPane deploymentId={id} applicationId={d.application.id} change={kubernetes ? { valuesYaml: env ?? '' } : { envFile: env ?? '' }} />}
      <div className="grid">
        <div>
          <h2>Status history</h2>
          <ol aria-label="Status history">{d.statusHistory.nodes.map((t, i) => <li key={i}><Phase phase={t.phase} /> {new Date(t.at).toLocaleTimeString()} {t.message}</li>)}</ol>
        </div>
        <div>
          <h2>Revisions</h2>
          <table aria-label="Revisions">
            <tbody>
              {revisions.map((r, i) => (
                <tr key={r.id} data-testid={`revision-${revisions.length - i}`}>
                  <td>#{revisions.length - i}</td><td>{r.version.name}</td><td>{r.createdBy}</td><td>{new Date(r.createdAt).toLocaleString()}</td><td>{r.forceRestart ? 'restart' : ''}</td>
                  <td>
                    <button onClick={() => setPair([older === r.id ? newer : r.id, newer === r.id ? older : newer])} aria-label={`compare revision ${revisions.length - i}`}>diff</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {ra && rb && (
            <pre aria-label="Revision diff" data-testid="revision-diff">
              {`version ${ra.version.name} → ${rb.version.name}\n`}
              {diffLines(redact((kubernetes ? ra.valuesYaml : ra.envFile) ?? ''), redact((kubernetes ? rb.valuesYaml : rb.envFile) ?? '')).map((l, i) => <span key={i} className={l.sign === '+' ? 'diff-add' : l.sign === '-' ? 'diff-del' : ''}>{`${l.sign} ${l.text}\n`}</span>)}
            </pre>
          )}
        </div>
      </div>
      <LogPane deploymentId={id} />
    </section>
  );
}

type Line = LogsSubscription['deploymentLogs'];

function LogPane({ deploymentId }: { deploymentId: string }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [paused, setPaused] = useState(false);
  const [text, setText] = useState('');
  const [resource, setResource] = useState('');
  const [error, setError] = useState<string | null>(null);
  const pausedRef = useRef(false);
  const held = useRef<Line[]>([]);
  pausedRef.current = paused;
  useEffect(() => {
    setLines([]);
    return subscribe(LogsDocument, { deploymentId, tail: 200 }, (d) => {
      if (pausedRef.current) held.current.push(d.deploymentLogs);
      else setLines((l) => [...l.slice(-1999), d.deploymentLogs]);
    }, setError);
  }, [deploymentId]);
  useEffect(() => {
    if (!paused && held.current.length) {
      const more = held.current;
      held.current = [];
      setLines((l) => [...l, ...more].slice(-2000));
    }
  }, [paused]);
  const resources = useMemo(() => [...new Set(lines.map((l) => l.resource))].sort(), [lines]);
  const shown = lines.filter((l) => (!resource || l.resource === resource) && (!text || l.line.includes(text)));
  return (
    <div>
      <h2>Logs</h2>
      <ErrorNote error={error} />
      <div className="inline">
        <button onClick={() => setPaused(!paused)}>{paused ? 'Follow' : 'Pause'}</button>
        <label>Resource <select name="logResource" value={resource} onChange={(e) => setResource(e.target.value)}><option value="">all</option>{resources.map((r) => <option key={r}>{r}</option>)}</select></label>
        <label>Filter <input name="logFilter" value={text} onChange={(e) => setText(e.target.value)} /></label>
      </div>
      <pre className="logs" aria-label="Log lines" data-testid="logs">
        {shown.length === 0 ? 'No log lines yet (logs must be enabled on the target).' : shown.map((l) => `${l.timestamp} ${l.resource} ${l.line}\n`).join('')}
      </pre>
    </div>
  );
}
