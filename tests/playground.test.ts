/**
 * The playground's server side: GraphiQL's page carries every asset itself (no CDN), and
 * graphql-ws clients authenticate with `Authorization` in connection params in any case spelling,
 * or per operation through `extensions.headers` (what GraphiQL's Headers tab sends).
 * The browser half (network cut, Headers tab) is in tests/console-browser.test.ts.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { createAccess, seedDockerSetup } from './testkit/flow.js';
import { agentLogin, subscribeAgent } from './testkit/agent-socket.js';

let pg: TestPostgres;
let hub: TestHub;
beforeAll(async () => {
  pg = await startTestPostgres();
  // A long keepalive: on a loaded machine a 2 s ping may go unanswered and end the socket mid-test.
  hub = await startTestHub(await pg.freshDatabase('playground'), { DISTR_KEEPALIVE_SECONDS: '60' });
});
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});

test('GraphiQL is served with its scripts, styles and workers inlined: no outside URL is loaded', async () => {
  const res = await fetch(`${hub.url}/graphql`, { headers: { accept: 'text/html' } });
  expect(res.status).toBe(200);
  const html = await res.text();
  expect(html).toContain('renderYogaGraphiQL');
  expect(html.length).toBeGreaterThan(1_000_000);
  // No <script src>, <link href> or CSS @import pointing off the hub.
  expect(html).not.toMatch(/<script[^>]+src=["']https?:/i);
  expect(html).not.toMatch(/<link[^>]+href=["']https?:/i);
  expect(html).not.toMatch(/unpkg\.com|cdn\.jsdelivr\.net/);
});

/** Subscribe to organizationEvents with the given client options; resolves with the first event or error. */
function firstEvent(options: { connectionParams?: Record<string, unknown>; extensions?: Record<string, unknown> }) {
  const client = createClient({ url: `${hub.url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: options.connectionParams });
  const started = new Promise<void>((resolve) => client.on('connected', () => resolve()));
  const event = new Promise<any>((resolve) => {
    client.subscribe(
      { query: 'subscription { organizationEvents { kind targetId connected } }', extensions: options.extensions },
      { next: (v) => resolve(v), error: (e) => resolve({ error: e }), complete: () => {} },
    );
  });
  return { client, started, event };
}

test.each([
  ['authorization', (k: string) => ({ connectionParams: { authorization: `Bearer ${k}` } })],
  ['Authorization', (k: string) => ({ connectionParams: { Authorization: `Bearer ${k}` } })],
  ['AUTHORIZATION', (k: string) => ({ connectionParams: { AUTHORIZATION: `bearer ${k}` } })],
  ['headers.Authorization', (k: string) => ({ connectionParams: { headers: { Authorization: `Bearer ${k}` } } })],
  ['extensions.headers (GraphiQL)', (k: string) => ({ connectionParams: {}, extensions: { headers: { Authorization: `Bearer ${k}` } } })],
])('a subscription authenticated by %s receives events', async (_name, options) => {
  const seed = await seedDockerSetup(hub.url, hub.apiKey, `pg${Math.random().toString(36).slice(2, 7)}`);
  const sub = firstEvent(options(hub.apiKey));
  await sub.started;
  const access = await createAccess(hub.url, hub.apiKey, seed.target.id);
  let received: any = null;
  void sub.event.then((e) => (received = e));
  try {
    // The hub registers the subscription asynchronously: connect and disconnect an agent until an
    // event arrives (each connection is a liveness event), rather than waiting a fixed time.
    while (!received) {
      const agent = subscribeAgent(hub.url, await agentLogin(hub.url, seed.target.id, access.secret));
      await agent.next();
      await agent.close();
      await Promise.race([sub.event, new Promise((r) => setImmediate(r))]);
    }
    expect(received.error, `closed: ${received.error?.code} ${received.error?.reason}`).toBeUndefined();
    expect(received.data.organizationEvents).toMatchObject({ kind: 'liveness', targetId: seed.target.id });
  } finally {
    await sub.client.dispose();
  }
});

test('a wrong key in extensions.headers is refused with a clear error, an agent token there is refused', async () => {
  const sub = firstEvent({ extensions: { headers: { Authorization: 'Bearer distr_00000000-0000-0000-0000-000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } } });
  const result = await sub.event;
  expect(JSON.stringify(result.error)).toContain('API key invalid');
  await sub.client.dispose();
  const anonymous = firstEvent({});
  expect(JSON.stringify((await anonymous.event).errors ?? (await anonymous.event).error)).toContain('authentication required');
  await anonymous.client.dispose();
});
