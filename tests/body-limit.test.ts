/**
 * The request body limit is the hub's own (server/app.ts `handle`): a body must declare its
 * Content-Length (no chunked upload, on any method) and stay within DISTR_MAX_BODY_BYTES; node's
 * HTTP parser never hands on more body than declared. So yoga's own byte-counting stream is off,
 * and these show nothing gets past without it. Raw sockets: fetch would not send such requests.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { connect } from 'node:net';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { ok } from './testkit/flow.js';

let pg: TestPostgres;
let hub: TestHub;
beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase('body_limit'));
});
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});

/** Sends raw bytes (with `Connection: close`), returns the response once the hub closes the socket. */
function raw(request: string | Buffer): Promise<{ status: number; text: string }> {
  const { port } = new URL(hub.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0), text }));
    socket.on('error', reject);
    socket.write(request);
  });
}

const mutation = (name: string) => JSON.stringify({ query: `mutation { createApplication(input: {name: "${name}", type: docker}) { __typename } }` });
const headers = (extra: string) => `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer ${hub.apiKey}\r\nConnection: close\r\n${extra}\r\n`;
const applications = async () => (await ok(hub.url, `{ applications(first: 100) { nodes { name } } }`, {}, hub.apiKey)).applications.nodes.map((a: { name: string }) => a.name);

test('a chunked body is refused with 411 on POST and on any other method, and writes nothing', async () => {
  const body = mutation('chunked');
  const chunked = `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  const post = await raw(headers('Transfer-Encoding: chunked\r\n') + chunked);
  expect(post.status).toBe(411);
  expect(post.text).toContain('LENGTH_REQUIRED');
  const put = await raw(headers('Transfer-Encoding: chunked\r\n').replace(/^POST/, 'PUT') + chunked);
  expect(put.status).toBe(411);
  expect(await applications()).not.toContain('chunked');
});

test('a declared length over the limit is refused with 413 before the body is read', async () => {
  const res = await raw(headers(`Content-Length: ${1024 * 1024 + 1}\r\n`) + mutation('too-long'));
  expect(res.status).toBe(413);
  expect(res.text).toContain('PAYLOAD_TOO_LARGE');
  expect(await applications()).not.toContain('too-long');
});

test('bytes beyond the declared length are not part of the body', async () => {
  const body = mutation('declared');
  // The declared length cuts the JSON short: the hub parses only that much and refuses it.
  const res = await raw(headers(`Content-Length: ${Buffer.byteLength(body) - 5}\r\n`) + body + 'x'.repeat(2 * 1024 * 1024));
  expect(res.status).toBe(400);
  expect(await applications()).not.toContain('declared');
  // Within the limit and exact, the same request works.
  const exact = await raw(headers(`Content-Length: ${Buffer.byteLength(body)}\r\n`) + body);
  expect(exact.status).toBe(200);
  expect(await applications()).toContain('declared');
});

test('Content-Length with Transfer-Encoding is refused by the parser', async () => {
  const body = mutation('both');
  const res = await raw(headers(`Content-Length: ${Buffer.byteLength(body)}\r\nTransfer-Encoding: chunked\r\n`) + body);
  expect(res.status).toBe(400);
  expect(await applications()).not.toContain('both');
});
