/**
 * server/ws-messages.ts on a real ws server: a socket with the hub's emit hands text messages to
 * its listeners as strings (so graphql-ws does not keep ws' Buffer alive beside the string it
 * makes), and binary messages as they were.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { emitTextMessagesAsStrings, reviveQueryText } from '../server/ws-messages.js';

let wss: WebSocketServer;
let received: { data: unknown; isBinary: boolean }[];
beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  wss.on('connection', (socket) => {
    socket.emit = emitTextMessagesAsStrings;
    socket.on('message', (data, isBinary) => {
      received.push({ data, isBinary });
      if (received.length === 2) socket.close();
    });
  });
});
afterAll(() => new Promise<void>((resolve) => wss.close(() => resolve())));

test('text arrives as a string, binary as a Buffer; other events pass through', async () => {
  received = [];
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await once(client, 'open');
  client.send('{"type":"connection_init","payload":{"token":"héllo"}}');
  client.send(Buffer.from([0, 1, 2]), { binary: true });
  const [code] = await once(client, 'close'); // the server's close: its 'close' event went through the same emit
  expect(code).toBe(1005);
  expect(received).toEqual([
    { data: '{"type":"connection_init","payload":{"token":"héllo"}}', isBinary: false },
    { data: Buffer.from([0, 1, 2]), isBinary: true },
  ]);
});

test('the reviver returns query texts unchanged and leaves every other value alone', () => {
  const text = 'subscription AgentDesiredState { agentDesiredState { targetId } }';
  const message = `{"id":"1","type":"subscribe","payload":{"query":${JSON.stringify(text)},"variables":{"query":3}}}`;
  expect(JSON.parse(message, reviveQueryText)).toEqual(JSON.parse(message));
  expect(JSON.parse(message, reviveQueryText).payload.query).toBe(text);
});
