import { useEffect, useState } from 'react';
import {
  ConsoleDeploymentVersionsDocument,
  ConsolePreviewUpdateDocument,
  ConsoleRequestRuntimePreviewDocument,
  ConsoleRuntimePreviewChangedDocument,
  type ConsolePreviewUpdateQuery,
  type ConsoleRuntimePreviewFragment,
} from '../generated/graphql.js';
import { expectType, request, subscribe } from '../api.js';
import { ErrorNote, useLoad } from '../ui.js';

type HubPreview = Extract<ConsolePreviewUpdateQuery['previewDeploymentUpdate'], { __typename: 'DeploymentPreview' }>;

/** A unified diff with added and removed lines marked. */
function Diff({ text, label }: { text: string; label: string }) {
  return (
    <pre aria-label={label} data-testid={label}>
      {text.split('\n').map((line, i) => (
        <span key={i} className={line.startsWith('+') && !line.startsWith('+++') ? 'diff-add' : line.startsWith('-') && !line.startsWith('---') ? 'diff-del' : ''}>{`${line}\n`}</span>
      ))}
    </pre>
  );
}

/**
 * Before an update: what the agent would receive (the hub's dry run, secrets redacted) and, asked
 * of the agent itself, what its runtime would do (docker: `docker compose config` against the
 * running project, the services it would recreate). Writes no revision.
 */
export function PreviewPane({ deploymentId, applicationId, change }: { deploymentId: string; applicationId: string; change: { envFile?: string; valuesYaml?: string } }) {
  const versions = useLoad(() => request(ConsoleDeploymentVersionsDocument, { id: applicationId }), [applicationId]);
  const [versionId, setVersionId] = useState('');
  const [hub, setHub] = useState<HubPreview | null>(null);
  const [runtime, setRuntime] = useState<ConsoleRuntimePreviewFragment | null>(null);
  const [error, setError] = useState<string | null>(null);
  const input = { ...change, ...(versionId ? { versionId } : {}) };
  useEffect(() => {
    if (!runtime || runtime.state !== 'pending') return;
    return subscribe(ConsoleRuntimePreviewChangedDocument, { id: runtime.id }, (d) => setRuntime(d.runtimePreviewChanged), setError);
  }, [runtime?.id]); // eslint-disable-line react-hooks/exhaustive-deps
  const run = async (what: () => Promise<void>) => {
    try {
      setError(null);
      await what();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <div aria-label="Preview">
      <h2>Preview</h2>
      <div className="inline">
        <label>
          Version{' '}
          <select name="previewVersion" value={versionId} onChange={(e) => setVersionId(e.target.value)}>
            <option value="">current</option>
            {(versions.data?.application.versions ?? []).filter((v) => !v.archivedAt).map((v) => <option key={v.id} value={v.id}>{v.name}</option>)}
          </select>
        </label>
        <button type="button" onClick={() => run(async () => setHub(expectType((await request(ConsolePreviewUpdateDocument, { id: deploymentId, input })).previewDeploymentUpdate, 'DeploymentPreview')))}>Preview</button>
        <button type="button" onClick={() => run(async () => setRuntime(expectType((await request(ConsoleRequestRuntimePreviewDocument, { id: deploymentId, input })).requestRuntimePreview, 'RuntimePreview')))}>Preview on the agent</button>
      </div>
      <ErrorNote error={error ?? versions.error} />
      {hub && (
        <div data-testid="hub-preview">
          {!hub.changed && <p>What the agent receives would not change.</p>}
          {hub.files.filter((f) => f.diff).map((f) => <Diff key={f.name} text={f.diff!} label={`diff ${f.name}`} />)}
          {hub.secrets.length > 0 && <p>Secrets (values not shown): {hub.secrets.join(', ')}</p>}
          <ul>{hub.findings.map((f, i) => <li key={i}>{f.severity} {f.field}: {f.message}</li>)}</ul>
        </div>
      )}
      {runtime && (
        <div data-testid="runtime-preview">
          <p data-testid="runtime-state">
            Runtime preview: {runtime.state}
            {runtime.waitingFor ? ` — waiting for ${runtime.waitingFor}` : ''}
            {runtime.detail ? ` — ${runtime.detail}` : ''}
          </p>
          {runtime.services && (
            <table aria-label="Runtime services">
              <tbody>
                {runtime.services.map((s) => (
                  <tr key={s.name}><td>{s.name}</td><td>{s.change}</td><td>{s.imageChanged ? `${s.imageBefore} → ${s.imageAfter}` : (s.imageAfter ?? s.imageBefore)}</td></tr>
                ))}
              </tbody>
            </table>
          )}
          {runtime.diff && <Diff text={runtime.diff} label="runtime diff" />}
        </div>
      )}
    </div>
  );
}
