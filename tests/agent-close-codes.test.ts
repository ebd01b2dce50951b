/**
 * Every close code the hub uses on an agent socket (docs/agent-protocol.md, "Close codes"), each
 * produced for real over a raw websocket speaking graphql-transport-ws to a real hub.
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { createSigner } from 'fast-jwt';
import { AgentCloseCode } from '../protocol/index.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { createAccess, seedDockerSetup } from './testkit/flow.js';
import { agentLogin } from './testkit/agent-socket.js';
import { ok } from './testkit/graphql.js';

let pg: TestPostgres;
let hub: TestHub;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase('close'));
});
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

interface RawSocket {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  messages: unknown[];
  opened: Promise<void>;
  acked: Promise<void>;
}

/** A raw graphql-transport-ws socket: the test decides exactly what is sent. */
function raw(url: string, init?: Record<string, unknown> | null): RawSocket {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const messages: unknown[] = [];
  let ack!: () => void;
  const acked = new Promise<void>((r) => (ack = r));
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    messages.push(m);
    if (m.type === 'connection_ack') ack();
  });
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  if (init !== null) void opened.then(() => ws.send(JSON.stringify({ type: 'connection_init', payload: init ?? {} })));
  cleanups.push(async () => ws.terminate());
  return { ws, closed, messages, opened, acked };
}

async function agentToken(name: string) {
  const { target } = await seedDockerSetup(hub.url, hub.apiKey, name);
  const access = await createAccess(hub.url, hub.apiKey, target.id);
  return { target, secret: access.secret, token: await agentLogin(hub.url, target.id, access.secret) };
}

test('4401: no token in connection_init (not acknowledged as anonymous)', async () => {
  const s = raw(hub.url, {});
  expect(await s.closed).toMatchObject({ code: AgentCloseCode.Unauthorized, reason: expect.stringMatching(/no token/) });
  expect(s.messages).toEqual([]);
});

test('4401: a token that is neither a JWT nor an API key', async () => {
  const s = raw(hub.url, { token: 'not-a-jwt' });
  expect((await s.closed).code).toBe(AgentCloseCode.Unauthorized);
});

test('4401: a JWT with a bad signature, and an expired one', async () => {
  const forged = createSigner({ key: 'not the hub key', algorithm: 'HS256', aud: 'distr-agent', iss: 'distr-hub', expiresIn: 600_000 })({ sub: 'x', org: 'x', gen: 0 });
  expect(await raw(hub.url, { token: forged }).closed).toMatchObject({ code: AgentCloseCode.Unauthorized, reason: 'agent token invalid' });
  const { target } = await agentToken('expired');
  const claims = { targetId: target.id, organizationId: 'x', generation: 0 };
  const tokens = hub.hub.runtime.agentTokens as unknown as { ttlSeconds: number; issue: (c: typeof claims) => Promise<{ token: string }> };
  const ttl = tokens.ttlSeconds;
  tokens.ttlSeconds = -60; // issued already expired, signed with the hub's own key
  const { token } = await tokens.issue(claims).finally(() => (tokens.ttlSeconds = ttl));
  expect(await raw(hub.url, { token }).closed).toMatchObject({ code: AgentCloseCode.Unauthorized, reason: 'agent token expired' });
});

test('4401: a well-formed but unknown API key (the auth rule: a credential that identifies no one is 4401)', async () => {
  const unknownKey = `distr_${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}_${'A'.repeat(43)}`;
  expect(await raw(hub.url, { token: unknownKey }).closed).toMatchObject({ code: AgentCloseCode.Unauthorized });
});

test('4403: a rotated credential (at connect and on an open socket), a deleted target', async () => {
  const a = await agentToken('rotated');
  const open = raw(hub.url, { token: a.token });
  await open.acked;
  await createAccess(hub.url, hub.apiKey, a.target.id); // rotates
  expect(await open.closed).toMatchObject({ code: AgentCloseCode.Forbidden });
  expect(await raw(hub.url, { token: a.token }).closed).toMatchObject({ code: AgentCloseCode.Forbidden, reason: expect.stringMatching(/rotated/) });

  const b = await agentToken('deleted');
  await ok(hub.url, `mutation($id: ID!) { deleteDeploymentTarget(id: $id) { __typename } }`, { id: b.target.id }, hub.apiKey);
  expect(await raw(hub.url, { token: b.token }).closed).toMatchObject({ code: AgentCloseCode.Forbidden });

});

test('4400: an invalid message on an acknowledged socket', async () => {
  const { token } = await agentToken('badrequest');
  const s = raw(hub.url, { token });
  await s.acked;
  s.ws.send(JSON.stringify({ type: 'subscribe', id: 1 }));
  expect((await s.closed).code).toBe(AgentCloseCode.BadRequest);
});

test('4429: a second connection_init', async () => {
  const { token } = await agentToken('twoinits');
  const s = raw(hub.url, { token });
  await s.acked;
  s.ws.send(JSON.stringify({ type: 'connection_init', payload: { token } }));
  expect((await s.closed).code).toBe(AgentCloseCode.TooManyInitialisationRequests);
});

test('4408: no connection_init at all (closed after the hub\'s wait, not kept open)', async () => {
  const s = raw(hub.url, null);
  await s.opened;
  expect((await s.closed).code).toBe(AgentCloseCode.ConnectionInitialisationTimeout);
});

test('1001: the hub shutting down', async () => {
  const own = await startTestHub(await pg.freshDatabase('shutdown'));
  const { target } = await seedDockerSetup(own.url, own.apiKey, 'bye');
  const access = await createAccess(own.url, own.apiKey, target.id);
  const s = raw(own.url, { token: await agentLogin(own.url, target.id, access.secret) });
  await s.acked;
  await own.close();
  expect((await s.closed).code).toBe(AgentCloseCode.GoingAway);
});
