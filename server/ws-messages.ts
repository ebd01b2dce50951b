import { WebSocket } from 'ws';

/**
 * What graphql-ws keeps of a websocket's messages, made small. Its `ws` adapter awaits each
 * message's handling, and a subscription's handling lasts the subscription's life, so every idle
 * agent would keep its `subscribe` message alive three times over: ws' Buffer, the string made of
 * it, and the parsed query text (~1.2 KiB each for the desired-state subscription).
 */

const MAX_TEXTS = 256;
const MAX_TEXT_LENGTH = 64 * 1024;
const texts = new Map<string, string>();

/**
 * The JSON reviver of graphql-ws messages: one copy of each distinct operation text (the first
 * one seen) instead of one per message. Bounded: texts past the limit are kept as they came.
 */
export function reviveQueryText(key: string, value: unknown): unknown {
  if (key !== 'query' || typeof value !== 'string' || value.length > MAX_TEXT_LENGTH) return value;
  const known = texts.get(value);
  if (known !== undefined) return known;
  if (texts.size < MAX_TEXTS) texts.set(value, value);
  return value;
}

const emit = WebSocket.prototype.emit;

/**
 * Installed as a server socket's `emit`: a text message reaches its listeners as a string, not a
 * Buffer (graphql-ws' adapter makes the same string of it with `String(data)`, which then returns
 * this one), so the Buffer is not kept alive beside it. One shared function: no closure per socket.
 */
export function emitTextMessagesAsStrings(this: WebSocket, event: string | symbol, ...args: unknown[]): boolean {
  if (event === 'message' && args[1] === false && Buffer.isBuffer(args[0])) return emit.call(this, event, args[0].toString('utf8'), false);
  return emit.apply(this, [event, ...args]);
}
