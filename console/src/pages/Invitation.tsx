/**
 * The page an invitation link opens (#/invitation/<token>): the invited person chooses a name and
 * password (a new account) or gives their password (an account that exists), and joins; they are
 * signed in to the inviting organization afterwards.
 */
import { useState } from 'react';
import { acceptInvitation, type Session } from '../api.js';
import { ErrorNote } from '../ui.js';

export function Invitation({ token, onAccepted }: { token: string; onAccepted: (s: Session) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="signin">
      <h1>Join on distr</h1>
      <p>You were invited to an organization. New here? Choose your name and a password (at least 10 characters). Already have an account? Give its password.</p>
      <form
        aria-label="Accept invitation"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            const session = await acceptInvitation(token, password, name);
            location.hash = '#/';
            onAccepted(session);
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>Your name <input name="name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} /></label>
        <label>Password <input name="password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} required /></label>
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>{busy ? 'Joining…' : 'Accept invitation'}</button>
      </form>
    </main>
  );
}
