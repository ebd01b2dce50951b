import { useState } from 'react';
import { ApplicationsDocument, ArchiveVersionDocument, CreateApplicationDocument, type ApplicationsQuery, type DeploymentType } from '../generated/graphql.js';
import { expectType, request } from '../api.js';
import { ErrorNote, useLoad } from '../ui.js';
import { NewVersion } from './VersionForm.js';

type Version = ApplicationsQuery['applications']['nodes'][number]['versions'][number];

/** What a version consists of, as text (compose file and .env template, or chart reference and values). */
function content(v: Version): string {
  if (v.composeFile != null) return `${v.composeFile}${v.envTemplate ? `\n# .env template\n${v.envTemplate}` : ''}`;
  const chart = v.chartType === 'oci' ? `${v.chartUrl}` : `${v.chartUrl} ${v.chartName}`;
  return [`# chart (${v.chartType}): ${chart} ${v.chartVersion}`, v.baseValues && `# base values\n${v.baseValues}`, v.valuesTemplate && `# values template\n${v.valuesTemplate}`].filter(Boolean).join('\n');
}

export function Applications({ canWrite }: { canWrite: boolean }) {
  const apps = useLoad(() => request(ApplicationsDocument), []);
  const [name, setName] = useState('');
  const [type, setType] = useState<DeploymentType>('docker');
  const [error, setError] = useState<string | null>(null);
  const [versionFor, setVersionFor] = useState<string | null>(null);
  const [shown, setShown] = useState<string | null>(null);
  const list = apps.data?.applications.nodes ?? [];
  return (
    <section aria-label="Applications">
      <h1>Applications</h1>
      <ErrorNote error={apps.error ?? error} />
      {canWrite && (
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              expectType((await request(CreateApplicationDocument, { input: { name, type } })).createApplication, 'Application');
              setName('');
              setError(null);
              apps.reload();
            } catch (err) {
              setError((err as Error).message);
            }
          }}
        >
          <label>
            New application <input name="appName" value={name} onChange={(e) => setName(e.target.value)} required />
          </label>
          <label>
            Kind
            <select name="appType" value={type} onChange={(e) => setType(e.target.value as DeploymentType)}>
              <option value="docker">docker</option>
              <option value="kubernetes">kubernetes</option>
            </select>
          </label>
          <button type="submit">Create application</button>
        </form>
      )}
      {!apps.data && !apps.error && <p className="loading">Loading…</p>}
      {apps.data && list.length === 0 && <p className="empty">No applications yet.</p>}
      {list.map((app) => (
        <article key={app.id} data-testid={`app-${app.name}`}>
          <h2>
            {app.name} <small>({app.type})</small>
          </h2>
          <table>
            <thead>
              <tr><th>Version</th><th>Created</th><th>State</th><th /></tr>
            </thead>
            <tbody>
              {app.versions.map((v) => (
                <tr key={v.id} data-testid={`version-${app.name}-${v.name}`} className={v.archivedAt ? 'archived' : undefined}>
                  <td>{v.name}</td>
                  <td>{new Date(v.createdAt).toLocaleString()}</td>
                  <td>{v.archivedAt ? `archived ${new Date(v.archivedAt).toLocaleString()}` : 'active'}</td>
                  <td>
                    <button onClick={() => setShown(shown === v.id ? null : v.id)}>{shown === v.id ? 'Hide' : 'View'} content</button>
                    {canWrite && (
                      <button
                        onClick={async () => {
                          try {
                            expectType((await request(ArchiveVersionDocument, { id: v.id, archived: !v.archivedAt })).archiveApplicationVersion, 'ApplicationVersion');
                            setError(null);
                            apps.reload();
                          } catch (err) {
                            setError((err as Error).message);
                          }
                        }}
                      >
                        {v.archivedAt ? 'Restore' : 'Archive'}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {app.versions.filter((v) => v.id === shown).map((v) => <pre key={v.id} data-testid="version-content">{content(v)}</pre>)}
          {canWrite && (versionFor === app.id ? <NewVersion applicationId={app.id} type={app.type} onDone={() => (setVersionFor(null), apps.reload())} /> : <button onClick={() => setVersionFor(app.id)}>New version</button>)}
        </article>
      ))}
    </section>
  );
}
