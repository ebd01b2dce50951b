import { useState } from 'react';
import { ApplicationsDocument, CreateApplicationDocument, CreateDockerVersionDocument } from '../generated/graphql.js';
import { expectType, request } from '../api.js';
import { ErrorNote, useLoad } from '../ui.js';

export function Applications({ canWrite }: { canWrite: boolean }) {
  const apps = useLoad(() => request(ApplicationsDocument), []);
  const [name, setName] = useState('');
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
              expectType((await request(CreateApplicationDocument, { input: { name, type: 'docker' } })).createApplication, 'Application');
              setName('');
              setError(null);
              apps.reload();
            } catch (err) {
              setError((err as Error).message);
            }
          }}
        >
          <label>
            New docker application <input name="appName" value={name} onChange={(e) => setName(e.target.value)} required />
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
                <tr key={v.id}>
                  <td>{v.name}</td>
                  <td>{new Date(v.createdAt).toLocaleString()}</td>
                  <td>{v.archivedAt ? 'archived' : 'active'}</td>
                  <td><button onClick={() => setShown(shown === v.id ? null : v.id)}>{shown === v.id ? 'Hide' : 'View'} content</button></td>
                </tr>
              ))}
            </tbody>
          </table>
          {app.versions.filter((v) => v.id === shown).map((v) => <pre key={v.id}>{v.composeFile}{v.envTemplate ? `\n# .env template\n${v.envTemplate}` : ''}</pre>)}
          {canWrite && app.type === 'docker' && (versionFor === app.id ? <NewVersion applicationId={app.id} onDone={() => (setVersionFor(null), apps.reload())} /> : <button onClick={() => setVersionFor(app.id)}>New version</button>)}
        </article>
      ))}
    </section>
  );
}

function NewVersion({ applicationId, onDone }: { applicationId: string; onDone: () => void }) {
  const [name, setName] = useState('');
  const [composeFile, setCompose] = useState('services:\n  web:\n    image: nginx\n');
  const [envTemplate, setEnv] = useState('');
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      className="inline"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          expectType((await request(CreateDockerVersionDocument, { input: { applicationId, name, composeFile, envTemplate: envTemplate || null } })).createDockerApplicationVersion, 'ApplicationVersion');
          onDone();
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <label>Version name <input name="versionName" value={name} onChange={(e) => setName(e.target.value)} required /></label>
      <label>Compose file <textarea name="composeFile" value={composeFile} onChange={(e) => setCompose(e.target.value)} /></label>
      <label>.env template <textarea name="envTemplate" value={envTemplate} onChange={(e) => setEnv(e.target.value)} /></label>
      <button type="submit">Create version</button>
      <ErrorNote error={error} />
    </form>
  );
}
