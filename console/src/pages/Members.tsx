/**
 * Members of the organization (admins): who is in it with which role, pending invitations, and
 * inviting someone. The invitation link carries the token in the URL fragment (never sent to a
 * server by the browser); it is shown once.
 */
import { useState } from 'react';
import { InviteMemberDocument, MembersDocument, RevokeInvitationDocument, SetMemberRoleDocument, type Role } from '../generated/graphql.js';

const ROLES: Role[] = ['read_only', 'read_write', 'admin'];
import { expectType, request } from '../api.js';
import { ErrorNote, useLoad } from '../ui.js';

export function Members() {
  const data = useLoad(() => request(MembersDocument), []);
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('read_write');
  const [link, setLink] = useState<{ email: string; url: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const members = data.data?.viewer.organization.members ?? [];
  const invitations = data.data?.invitations ?? [];
  return (
    <section aria-label="Members">
      <h1>Members</h1>
      <ErrorNote error={data.error ?? error} />
      <form
        className="inline"
        aria-label="Invite"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const created = expectType((await request(InviteMemberDocument, { email, name: name || null, role })).inviteMember, 'CreatedInvitation');
            setLink({ email, url: `${location.origin}/#/invitation/${created.token}` });
            setEmail('');
            setName('');
            setError(null);
            data.reload();
          } catch (err) {
            setError((err as Error).message);
          }
        }}
      >
        <label>Invite e-mail <input name="inviteEmail" type="email" value={email} onChange={(e) => setEmail(e.target.value)} required /></label>
        <label>Name (optional) <input name="inviteName" value={name} onChange={(e) => setName(e.target.value)} /></label>
        <label>
          Role
          <select name="inviteRole" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </label>
        <button type="submit">Invite</button>
      </form>
      {link && (
        <div className="card" data-testid="invitation-link">
          <p>Send this link to {link.email} (shown once; it expires in 7 days):</p>
          <pre>{link.url}</pre>
          <button onClick={() => void navigator.clipboard.writeText(link.url)}>Copy invitation link</button>
        </div>
      )}
      {!data.data && !data.error && <p className="loading">Loading…</p>}
      {data.data && (
        <>
          <table aria-label="Member list">
            <thead><tr><th>Name</th><th>E-mail</th><th>Role</th></tr></thead>
            <tbody>
              {members.map((m) => (
                <tr key={m.id} data-testid={`member-${m.user.email}`}>
                  <td>{m.user.name}</td>
                  <td>{m.user.email}</td>
                  <td>
                    <select
                      aria-label={`Role of ${m.user.email}`}
                      value={m.role}
                      onChange={async (e) => {
                        try {
                          expectType((await request(SetMemberRoleDocument, { memberId: m.id, role: e.target.value as Role })).setMemberRole, 'Member');
                          setError(null);
                        } catch (err) {
                          setError((err as Error).message);
                        }
                        data.reload();
                      }}
                    >
                      {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                    </select>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Pending invitations</h2>
          {invitations.length === 0 ? (
            <p className="empty">No pending invitations.</p>
          ) : (
            <table aria-label="Invitations">
              <thead><tr><th>E-mail</th><th>Role</th><th>Expires</th><th /></tr></thead>
              <tbody>
                {invitations.map((i) => (
                  <tr key={i.id} data-testid={`invitation-${i.email}`}>
                    <td>{i.email}</td>
                    <td>{i.role}</td>
                    <td>{new Date(i.expiresAt).toLocaleString()}</td>
                    <td>
                      <button
                        onClick={async () => {
                          try {
                            expectType((await request(RevokeInvitationDocument, { id: i.id })).revokeInvitation, 'Invitation');
                            data.reload();
                          } catch (err) {
                            setError((err as Error).message);
                          }
                        }}
                      >
                        Revoke
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
