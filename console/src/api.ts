/**
 * The console's GraphQL client: queries and mutations over fetch (session cookie + CSRF token),
 * subscriptions over one graphql-ws socket (the cookie authenticates it; same origin only).
 * Documents and their types are generated from schema.graphql (console/src/generated).
 */
import { print, type DocumentNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';

export interface Session {
  user: { id: string; email: string; name: string };
  organization: { id: string; name: string };
  role: 'admin' | 'read_write' | 'read_only';
  csrfToken: string;
}

/** The hub's own message for a failed operation (GraphQL error or typed result). */
export class HubError extends Error {}

let csrfToken = '';
const printed = new WeakMap<DocumentNode, string>();
const text = (doc: DocumentNode) => {
  let s = printed.get(doc);
  if (!s) printed.set(doc, (s = print(doc)));
  return s;
};

export async function currentSession(): Promise<Session | null> {
  const res = await fetch('/auth/session', { credentials: 'same-origin' });
  if (res.status !== 200) return null;
  const session = (await res.json()) as Session;
  csrfToken = session.csrfToken;
  return session;
}

export async function signIn(email: string, password: string): Promise<Session> {
  const res = await fetch('/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  const body = await res.json();
  if (res.status !== 200) throw new HubError(body.error ?? `sign-in failed (${res.status})`);
  csrfToken = body.csrfToken;
  return body as Session;
}

/** Accept an invitation with a password (a new account's, or an existing account's own) and sign in. */
export async function acceptInvitation(token: string, password: string, name: string): Promise<Session> {
  const res = await fetch('/auth/accept-invitation', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, password, name: name || null }) });
  const body = await res.json();
  if (res.status !== 200) throw new HubError(body.error ?? `accepting failed (${res.status})`);
  socket?.dispose();
  socket = null;
  csrfToken = body.csrfToken;
  return body as Session;
}

export async function signOut(): Promise<void> {
  await fetch('/auth/logout', { method: 'POST', headers: { 'x-csrf-token': csrfToken } });
  socket?.dispose();
  socket = null;
}

export async function request<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables?: V): Promise<R> {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrfToken },
    body: JSON.stringify({ query: text(doc), variables: variables ?? {} }),
  });
  const body = (await res.json()) as { data?: R; errors?: { message: string }[] };
  if (body.errors?.length) throw new HubError(body.errors[0]!.message);
  return body.data as R;
}

/** A mutation result union: the success member, or throw the typed error's message. */
export function expectType<T extends { __typename: string }, N extends T['__typename']>(result: T, typename: N): Extract<T, { __typename: N }> {
  if (result.__typename === typename) return result as Extract<T, { __typename: N }>;
  throw new HubError((result as { message?: string }).message ?? `unexpected ${result.__typename}`);
}

let socket: Client | null = null;
function ws(): Client {
  socket ??= createClient({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`, lazy: true, retryAttempts: Infinity, keepAlive: 10_000 });
  return socket;
}

/** Subscribe; returns the unsubscribe function. */
export function subscribe<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables: V, onData: (data: R) => void, onError?: (message: string) => void): () => void {
  return ws().subscribe<R>(
    { query: text(doc), variables },
    {
      next: (v) => (v.errors?.length ? onError?.(v.errors[0]!.message) : v.data && onData(v.data)),
      error: (e) => onError?.(Array.isArray(e) ? e[0].message : ((e as Error).message ?? 'subscription closed')),
      complete: () => {},
    },
  );
}
