import { useCallback, useState } from 'react';
import { CreateAccessDocument, CreateTargetDocument, TargetsDocument, type DeploymentType, type TargetScope } from '../generated/graphql.js';
import { expectType, request } from '../api.js';
import { useEvents, useThrottledOnEvents, type OrgEvent } from '../live.js';
import { ErrorNote, Online, Pager, useLoad, usePages } from '../ui.js';

/** Targets per page (fetched page by page from the hub). */
const PAGE = 50;

export function Targets({ canWrite }: { canWrite: boolean }) {
  const pages = usePages();
  const targets = useLoad(() => request(TargetsDocument, { first: PAGE, after: pages.after }), [pages.after]);
  const [online, setOnline] = useState<Record<string, boolean>>({});
  const [name, setName] = useState('');
  const [type, setType] = useState<DeploymentType>('docker');
  const [namespace, setNamespace] = useState('');
  const [scope, setScope] = useState<TargetScope>('namespace');
  const [error, setError] = useState<string | null>(null);
  const [install, setInstall] = useState<{ targetId: string; command: string; secret: string } | null>(null);
  const [copied, setCopied] = useState(false);
  useEvents(
    useCallback(
      (e: OrgEvent) => {
        if (e.kind !== 'liveness' || !e.targetId) return;
        setOnline((o) => ({ ...o, [e.targetId!]: Boolean(e.connected) }));
      },
      // eslint-disable-next-line react-hooks/exhaustive-deps
      [],
    ),
  );
  // Last seen, agent version and host come with the connection: re-read the page (throttled).
  useThrottledOnEvents((e) => e.kind === 'liveness' || e.kind === 'resync', 500, targets.reload);
  const list = targets.data?.deploymentTargets.nodes ?? [];
  const waiting = install && !(online[install.targetId] ?? list.find((t) => t.id === install.targetId)?.agent.connected);
  return (
    <section aria-label="Deployment targets">
      <h1>Deployment targets</h1>
      <ErrorNote error={targets.error ?? error} />
      {canWrite && (
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              expectType((await request(CreateTargetDocument, { input: type === 'docker' ? { name, type, logsEnabled: true } : { name, type, namespace, scope, logsEnabled: true } })).createDeploymentTarget, 'DeploymentTarget');
              setName('');
              setError(null);
              targets.reload();
            } catch (err) {
              setError((err as Error).message);
            }
          }}
        >
          <label>New target <input name="targetName" value={name} onChange={(e) => setName(e.target.value)} required /></label>
          <label>
            Kind
            <select name="targetType" value={type} onChange={(e) => setType(e.target.value as DeploymentType)}>
              <option value="docker">docker</option>
              <option value="kubernetes">kubernetes</option>
            </select>
          </label>
          {type === 'kubernetes' && (
            <>
              <label>Namespace <input name="namespace" value={namespace} onChange={(e) => setNamespace(e.target.value)} required /></label>
              <label>
                Scope
                <select name="scope" value={scope} onChange={(e) => setScope(e.target.value as TargetScope)}>
                  <option value="namespace">namespace (the agent manages its namespace only)</option>
                  <option value="cluster">cluster (the agent may create namespaces and cluster resources)</option>
                </select>
              </label>
            </>
          )}
          <button type="submit">Create target</button>
        </form>
      )}
      {install && (
        <div className="card" data-testid="install">
          <h2>Connect an agent</h2>
          <p>Run this {list.find((t) => t.id === install.targetId)?.type === 'kubernetes' ? 'with access to the cluster' : 'on the docker host'}. The agent's secret (shown once):</p>
          <pre data-testid="install-secret">{install.secret}</pre>
          <pre data-testid="install-command">{install.command}</pre>
          <button
            onClick={async () => {
              await navigator.clipboard.writeText(`${install.command}`);
              setCopied(true);
            }}
          >
            {copied ? 'Copied' : 'Copy install command'}
          </button>
          <p role="status">{waiting ? 'Waiting for the agent to connect…' : 'Agent connected.'}</p>
        </div>
      )}
      {!targets.data && !targets.error && <p className="loading">Loading…</p>}
      {targets.data && list.length === 0 && <p className="empty">No targets yet.</p>}
      {list.length > 0 && (
        <table>
          <thead>
            <tr><th>Name</th><th>Kind</th><th>Agent</th><th>Last seen</th><th>Agent version</th><th>Host</th><th /></tr>
          </thead>
          <tbody>
            {list.map((t) => (
              <tr key={t.id} data-testid={`target-${t.name}`}>
                <td>{t.name}</td>
                <td>{t.type}{t.type === 'kubernetes' ? ` (${t.namespace ?? '—'}, ${t.scope ?? 'namespace'} scope)` : ''}</td>
                <td><Online connected={online[t.id] ?? t.agent.connected} /></td>
                <td>{t.agent.lastSeenAt ? new Date(t.agent.lastSeenAt).toLocaleString() : '—'}</td>
                <td>{t.agent.agentVersion ?? '—'}</td>
                <td>{t.agent.agentHost ?? '—'}</td>
                <td>
                  {canWrite && (
                    <button
                      onClick={async () => {
                        try {
                          const access = expectType((await request(CreateAccessDocument, { targetId: t.id })).createDeploymentTargetAccess, 'DeploymentTargetAccess');
                          setCopied(false);
                          setInstall({ targetId: t.id, command: access.installCommand, secret: access.secret });
                        } catch (err) {
                          setError((err as Error).message);
                        }
                      }}
                    >
                      Connect an agent
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager pages={{ ...pages, endCursor: targets.data?.deploymentTargets.pageInfo.endCursor }} size={PAGE} shown={list.length} hasNext={Boolean(targets.data?.deploymentTargets.pageInfo.hasNextPage)} />
    </section>
  );
}
