import { StrictMode, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { currentSession, signIn, signOut, type Session } from './api.js';
import { startEvents } from './live.js';
import { Overview } from './pages/Overview.js';
import { Applications } from './pages/Applications.js';
import { Targets } from './pages/Targets.js';
import { Deployments, DeploymentPage } from './pages/Deployments.js';
import { Rollouts } from './pages/Rollouts.js';
import { Members } from './pages/Members.js';
import { Invitation } from './pages/Invitation.js';
import './style.css';

function useHashRoute(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash.slice(1);
}

function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="signin">
      <h1>distr</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            onSignedIn(await signIn(email, password));
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>
          E-mail <input name="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required autoFocus />
        </label>
        <label>
          Password <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        {error && <p role="alert" className="error">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [liveError, setLiveError] = useState<string | null>(null);
  const route = useHashRoute();
  useEffect(() => void currentSession().then(setSession), []);
  useEffect(() => {
    if (session) startEvents(setLiveError);
  }, [session]);
  const out = useCallback(async () => {
    await signOut();
    setSession(null);
  }, []);
  const invitation = /^\/invitation\/(distr_inv_[\w-]+)$/.exec(route)?.[1];
  if (invitation) return <Invitation token={invitation} onAccepted={setSession} />;
  if (session === undefined) return <p className="loading">Loading…</p>;
  if (!session) return <SignIn onSignedIn={setSession} />;
  const canWrite = session.role !== 'read_only';
  const deploymentId = /^\/deployments\/([\w-]+)$/.exec(route)?.[1];
  const nav = [
    ['#/', 'Overview'],
    ['#/applications', 'Applications'],
    ['#/targets', 'Targets'],
    ['#/deployments', 'Deployments'],
    ['#/rollouts', 'Rollouts'],
    ...(session.role === 'admin' ? [['#/members', 'Members']] : []),
  ];
  return (
    <>
      <header>
        <strong>distr</strong>
        <nav>
          {nav.map(([href, label]) => (
            <a key={href} href={href} aria-current={`#${route}` === href || (href !== '#/' && `#${route}`.startsWith(href!)) ? 'page' : undefined}>
              {label}
            </a>
          ))}
          <a href="/graphql">GraphiQL</a>
        </nav>
        <span className="who">
          {session.user.email} ({session.role}) <button onClick={out}>Sign out</button>
        </span>
      </header>
      {liveError && <p role="alert" className="error">Live updates: {liveError}</p>}
      <main>
        {deploymentId ? (
          <DeploymentPage id={deploymentId} canWrite={canWrite} />
        ) : route === '/applications' ? (
          <Applications canWrite={canWrite} />
        ) : route === '/targets' ? (
          <Targets canWrite={canWrite} />
        ) : route === '/members' ? (
          <Members />
        ) : route === '/deployments' ? (
          <Deployments canWrite={canWrite} />
        ) : route.startsWith('/rollouts') ? (<Rollouts route={route} canWrite={canWrite} />
        ) : (
          <Overview />
        )}
      </main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
