import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { AgentDesiredStateDocument, AgentLoginDocument, AgentReportStatusDocument, type AgentStatusReportInput } from '../../protocol/index.js';
import { gql, ok, operationText } from './graphql.js';

/** The agent's own subscription document (protocol/operations/agent.graphql). */
export const DESIRED_STATE_SUBSCRIPTION = operationText(AgentDesiredStateDocument);

/** A simulated agent's socket: the real graphql-ws protocol, with helpers to await what arrives. */
export interface AgentSocket {
  /** The next desired state; waits for it (vitest's test timeout bounds the wait; a timeoutMs is for diagnostics only). */
  next(timeoutMs?: number): Promise<any>;
  /** Resolves with the close event once the hub closes the socket. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
  client: Client;
}

export async function agentLogin(url: string, targetId: string, secret: string): Promise<string> {
  const data = await ok(url, AgentLoginDocument, { targetId, secret }, null);
  return data.agentLogin.token;
}

export function subscribeAgent(url: string, token: string, query = DESIRED_STATE_SUBSCRIPTION): AgentSocket {
  const received: any[] = [];
  const waiters: ((v: any) => void)[] = [];
  let resolveClosed!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
  const client = createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { token },
    retryAttempts: 0,
    lazy: false,
    // The close event is what these tests assert on; graphql-ws would also print it.
    onNonLazyError: () => {},
    on: { closed: (e: any) => resolveClosed({ code: e?.code, reason: e?.reason }) },
  });
  const push = (v: any) => {
    const w = waiters.shift();
    if (w) w(v);
    else received.push(v);
  };
  client.subscribe({ query }, { next: (v) => push(v), error: (e) => push({ error: e }), complete: () => {} });
  return {
    client,
    closed,
    next(timeoutMs?: number) {
      if (received.length > 0) return Promise.resolve(unwrap(received.shift()));
      return new Promise((resolve, reject) => {
        const timer = timeoutMs === undefined ? undefined : setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((v) => {
          clearTimeout(timer);
          try {
            resolve(unwrap(v));
          } catch (e) {
            reject(e);
          }
        });
      });
    },
    async close() {
      await client.dispose();
    },
  };
}

function unwrap(v: any) {
  if (v?.error) throw new Error(`subscription error: ${JSON.stringify(v.error?.message ?? v.error)} ${v.error?.code ?? ""} ${v.error?.reason ?? ""}`);
  if (v?.errors?.length) throw new Error(`subscription errors: ${JSON.stringify(v.errors)}`);
  return v.data?.agentDesiredState ?? v.data;
}

/** Report status as an agent over HTTP; `phase` is loose so tests can send what the schema refuses. */
export async function reportStatus(url: string, token: string, reports: (Omit<AgentStatusReportInput, 'phase'> & { phase: string })[]) {
  return gql(url, AgentReportStatusDocument, { reports: reports as AgentStatusReportInput[] }, token);
}
