import type { EntityManager } from '@mikro-orm/postgresql';
import type { VendorPrincipal } from '../context.js';
import { Membership, Organization, User, type Role } from '../orgs/entities.js';
import { Session } from './entities.js';
import { passwordMatches } from './passwords.js';
import { hashSecret, newSecret } from './secrets.js';

export const SESSION_COOKIE = 'distr_session';
export const CSRF_HEADER = 'x-csrf-token';
/** A session lasts 12 hours from sign-in, or 2 hours unused. */
const SESSION_TTL_MS = 12 * 3600_000;
const IDLE_TTL_MS = 2 * 3600_000;

export interface SignedIn {
  principal: VendorPrincipal;
  session: Session;
  user: User;
  organization: Organization;
}

/** The session cookie's value in a Cookie header, if any. */
export function sessionCookieFrom(cookieHeader: string | null | undefined): string | null {
  if (!cookieHeader) return null;
  for (const part of cookieHeader.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === SESSION_COOKIE) return decodeURIComponent(rest.join('='));
  }
  return null;
}

export function sessionCookie(value: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure ? '; Secure' : ''}`;
}
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}

function principalOf(user: User, organizationId: string, role: Role, session: Session): VendorPrincipal {
  return { kind: 'vendor', organizationId, userId: user.id, role, apiKeyId: null, sessionId: session.id, csrfToken: session.csrfToken, label: `${user.email} (console)` };
}

/** Check e-mail and password; on success open a session in the user's first organization. */
export async function signIn(em: EntityManager, email: string, password: string): Promise<{ cookieValue: string; signedIn: SignedIn } | null> {
  const user = await em.findOne(User, { email: email.trim().toLowerCase() });
  if (!(await passwordMatches(password, user?.passwordHash))) return null;
  const membership = await em.findOne(Membership, { user: user!.id }, { orderBy: { createdAt: 'asc' }, populate: ['organization'] });
  if (!membership) return null;
  return openSession(em, membership);
}

/** A new session for a member (after a password check or an invitation accepted with one). */
export async function openSession(em: EntityManager, membership: Membership): Promise<{ cookieValue: string; signedIn: SignedIn }> {
  await em.populate(membership, ['user', 'organization']);
  const user = membership.user;
  const secret = newSecret();
  const session = em.create(Session, {
    tokenHash: hashSecret(secret),
    csrfToken: newSecret(),
    user,
    organization: membership.organization,
    expiresAt: new Date(Date.now() + SESSION_TTL_MS),
  });
  await em.flush();
  // Expired sessions of anyone are removed now and then.
  if (Math.random() < 0.1) await em.nativeDelete(Session, { expiresAt: { $lt: new Date() } });
  return { cookieValue: secret, signedIn: { principal: principalOf(user, membership.organization.id, membership.role, session), session, user, organization: membership.organization } };
}

/** The session a cookie names, if valid now; the role is read afresh (a demoted member is demoted at once). */
export async function sessionFor(em: EntityManager, cookieValue: string): Promise<SignedIn | null> {
  return current(em, await em.findOne(Session, { tokenHash: hashSecret(cookieValue) }, { populate: ['user', 'organization'] }));
}

/** A session by id (a console socket re-checks it on every operation). */
export async function sessionById(em: EntityManager, id: string): Promise<SignedIn | null> {
  return current(em, await em.findOne(Session, { id }, { populate: ['user', 'organization'] }));
}

async function current(em: EntityManager, session: Session | null): Promise<SignedIn | null> {
  const now = Date.now();
  if (!session || session.expiresAt.getTime() <= now || now - session.lastSeenAt.getTime() > IDLE_TTL_MS) return null;
  const membership = await em.findOne(Membership, { organization: session.organization.id, user: session.user.id });
  if (!membership) return null;
  if (now - session.lastSeenAt.getTime() > 60_000) await em.nativeUpdate(Session, { id: session.id }, { lastSeenAt: new Date() });
  return { principal: principalOf(session.user, session.organization.id, membership.role, session), session, user: session.user, organization: session.organization };
}

export async function signOut(em: EntityManager, sessionId: string): Promise<void> {
  await em.nativeDelete(Session, { id: sessionId });
}
