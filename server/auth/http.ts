/**
 * The console's sign-in endpoints: POST /auth/login {email, password}, POST /auth/logout,
 * GET /auth/session, POST /auth/accept-invitation {token, password, name?} (joins and signs in). The session is an httpOnly SameSite=Strict cookie; writes made with it need
 * the session's CSRF token in the X-CSRF-Token header (returned by login and /auth/session).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HubRuntime } from '../context.js';
import { DistrError } from '../errors.js';
import { acceptInvitationWithPassword, pendingInvitationEmail, WrongPasswordError } from '../orgs/invitations.js';
import { clearedSessionCookie, CSRF_HEADER, openSession, sessionCookie, sessionCookieFrom, sessionFor, signIn, signOut, type SignedIn } from './sessions.js';

const MAX_LOGIN_BODY = 8 * 1024;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(body === null ? undefined : JSON.stringify(body));
}

function describe(s: SignedIn) {
  return {
    user: { id: s.user.id, email: s.user.email, name: s.user.name },
    organization: { id: s.organization.id, name: s.organization.name },
    role: s.principal.role,
    csrfToken: s.session.csrfToken,
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_LOGIN_BODY) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** A request from another site may not use the cookie (SameSite already stops it; this also covers old browsers). */
export function sameOrigin(headers: IncomingMessage['headers']): boolean {
  const origin = headers.origin;
  if (!origin) return true;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}

/** Handle /auth/*; false when the path is not one of them. */
export async function handleAuthRoute(req: IncomingMessage, res: ServerResponse, hub: HubRuntime): Promise<boolean> {
  const path = (req.url ?? '').split('?')[0];
  const secure = (hub.env.DISTR_PUBLIC_URL ?? '').startsWith('https:');
  if (path === '/auth/login' && req.method === 'POST') {
    if (!sameOrigin(req.headers)) return send(res, 403, { error: 'cross-origin sign-in refused' }), true;
    let body: { email?: unknown; password?: unknown };
    try {
      body = (await readJson(req)) as typeof body;
    } catch {
      return send(res, 400, { error: 'expected a JSON body {"email": …, "password": …}' }), true;
    }
    if (typeof body?.email !== 'string' || typeof body.password !== 'string' || !body.email || !body.password) {
      return send(res, 400, { error: 'e-mail and password are required' }), true;
    }
    const limitKey = `login:${body.email.trim().toLowerCase()}`;
    const retryAfter = hub.loginLimiter.retryAfter(limitKey);
    if (retryAfter > 0) return send(res, 429, { error: `too many failed sign-ins; retry in ${retryAfter} s` }, { 'retry-after': String(retryAfter) }), true;
    const result = await signIn(hub.rootEm.fork(), body.email, body.password);
    if (!result) {
      hub.loginLimiter.recordFailure(limitKey);
      return send(res, 401, { error: 'e-mail or password is wrong' }), true;
    }
    hub.loginLimiter.reset(limitKey);
    send(res, 200, describe(result.signedIn), { 'set-cookie': sessionCookie(result.cookieValue, secure) });
    return true;
  }
  if (path === '/auth/accept-invitation' && req.method === 'POST') {
    if (!sameOrigin(req.headers)) return send(res, 403, { error: 'cross-origin request refused' }), true;
    let body: { token?: unknown; name?: unknown; password?: unknown };
    try {
      body = (await readJson(req)) as typeof body;
    } catch {
      return send(res, 400, { error: 'expected a JSON body {"token": …, "password": …, "name": …}' }), true;
    }
    if (typeof body?.token !== 'string' || typeof body.password !== 'string' || !body.token || !body.password || (body.name != null && typeof body.name !== 'string')) {
      return send(res, 400, { error: 'token and password are required (name optional)' }), true;
    }
    const em = hub.rootEm.fork();
    // A wrong password for an existing account counts as a failed sign-in of that address.
    const email = await pendingInvitationEmail(em, body.token);
    const limitKey = email ? `login:${email}` : null;
    const retryAfter = limitKey ? hub.loginLimiter.retryAfter(limitKey) : 0;
    if (retryAfter > 0) return send(res, 429, { error: `too many failed sign-ins; retry in ${retryAfter} s` }, { 'retry-after': String(retryAfter) }), true;
    let membership;
    try {
      membership = await acceptInvitationWithPassword(em, { token: body.token, password: body.password, name: body.name as string | null | undefined });
    } catch (err) {
      if (err instanceof WrongPasswordError) hub.loginLimiter.recordFailure(`login:${err.email}`);
      if (err instanceof DistrError) return send(res, 400, { error: err.message }), true;
      throw err;
    }
    if (limitKey) hub.loginLimiter.reset(limitKey);
    const opened = await openSession(em, membership);
    send(res, 200, describe(opened.signedIn), { 'set-cookie': sessionCookie(opened.cookieValue, secure) });
    return true;
  }
  if (path === '/auth/session' && req.method === 'GET') {
    const cookie = sessionCookieFrom(req.headers.cookie);
    const signedIn = cookie ? await sessionFor(hub.rootEm.fork(), cookie) : null;
    if (!signedIn) return send(res, 401, { error: 'not signed in' }), true;
    send(res, 200, describe(signedIn));
    return true;
  }
  if (path === '/auth/logout' && req.method === 'POST') {
    const cookie = sessionCookieFrom(req.headers.cookie);
    const signedIn = cookie ? await sessionFor(hub.rootEm.fork(), cookie) : null;
    if (signedIn) {
      if (req.headers[CSRF_HEADER] !== signedIn.session.csrfToken) return send(res, 403, { error: 'missing or wrong X-CSRF-Token header' }), true;
      await signOut(hub.rootEm.fork(), signedIn.session.id);
    }
    send(res, 204, null, { 'set-cookie': clearedSessionCookie(secure) });
    return true;
  }
  return false;
}
