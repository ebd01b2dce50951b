import { createClient, type Client } from 'graphql-ws';
import { GraphQLClient, ClientError, type RequestOptions } from 'graphql-request';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { print, type ExecutionResult } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import {
  AgentCloseCode,
  AgentDesiredStateDocument,
  AgentLoginDocument,
  AgentLogWatermarksDocument,
  AgentPushLogsDocument,
  AgentReportInfoDocument,
  AgentReportStatusDocument,
  desiredStateFromWire,
  type AgentDesiredStateSubscription,
  type DesiredState,
  type LogLine,
  type StatusReport,
} from '../../protocol/index.js';
import { backoffDelay, sleep } from './backoff.js';

/** The agent's documents as strings for graphql-ws (graphql-request takes the typed documents). */
export const DESIRED_STATE_SUBSCRIPTION = print(AgentDesiredStateDocument);

export interface HubClientOptions {
  hubUrl: string;
  targetId: string;
  secret: () => string;
  agentVersion: string;
  logger: Logger;
  /** Re-login when the token has less than this left. */
  refreshMarginMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

/**
 * Login, token refresh, the desired-state subscription with reconnects (randomized exponential
 * backoff), and the report mutations. Everything the agent says to the hub goes through here.
 */
export class HubClient {
  private token: { value: string; expiresAt: number } | null = null;
  private loggingIn: Promise<string> | null = null;
  private readonly http: GraphQLClient;
  private ws: Client | null = null;
  /** Whether the socket is open and acknowledged: reports then go over it, not over HTTP. */
  private socketReady = false;
  private readonly graphqlUrl: string;

  constructor(private readonly options: HubClientOptions) {
    this.graphqlUrl = new URL('/graphql', options.hubUrl).toString();
    this.http = new GraphQLClient(this.graphqlUrl);
  }

  /** A token with time left, logging in when needed (one login at a time). */
  async validToken(): Promise<string> {
    const margin = this.options.refreshMarginMs ?? 60_000;
    if (this.token && this.token.expiresAt - Date.now() > margin) return this.token.value;
    this.loggingIn ??= this.login().finally(() => (this.loggingIn = null));
    return this.loggingIn;
  }

  private async login(): Promise<string> {
    const anonymous = new GraphQLClient(this.graphqlUrl);
    const data = await anonymous.request(AgentLoginDocument, {
      targetId: this.options.targetId,
      secret: this.options.secret(),
    });
    const expiresAt = Date.parse(data.agentLogin.expiresAt);
    // A short-lived token: refresh at half its life at the latest.
    const life = expiresAt - Date.now();
    this.options.refreshMarginMs = Math.min(this.options.refreshMarginMs ?? 60_000, life / 2);
    this.token = { value: data.agentLogin.token, expiresAt };
    this.options.logger.info({ expiresAt: data.agentLogin.expiresAt }, 'logged in to hub');
    return this.token.value;
  }

  /** Forget the token (it was refused); the next call logs in again. */
  invalidateToken(): void {
    this.token = null;
  }

  /**
   * Receive desired states until the signal aborts. Reconnects forever with jittered backoff;
   * every (re)connect starts with the whole current state, so nothing is missed while away.
   */
  async subscribeDesiredState(onState: (state: DesiredState) => void, hooks: { onConnected?: () => void; onDisconnected?: () => void }, signal: AbortSignal): Promise<void> {
    const base = this.options.retryBaseMs ?? 500;
    const max = this.options.retryMaxMs ?? 30_000;
    const wsUrl = this.graphqlUrl.replace(/^http/, 'ws');
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      lazy: false,
      onNonLazyError: (err) => this.options.logger.warn({ err: describe(err) }, 'hub connection failed for good'),
      keepAlive: 10_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => !signal.aborted,
      retryWait: async (retries) => {
        await sleep(backoffDelay(retries, base, max), signal);
      },
      connectionParams: async () => {
        try {
          return { token: await this.validToken() };
        } catch (err) {
          this.options.logger.warn({ err: describe(err) }, 'login failed; will retry');
          throw err;
        }
      },
      on: {
        connected: () => {
          this.socketReady = true;
          hooks.onConnected?.();
        },
        closed: (event) => {
          this.socketReady = false;
          const code = (event as { code?: number })?.code;
          if (code === AgentCloseCode.Unauthorized || code === AgentCloseCode.Forbidden) {
            this.options.logger.warn({ code, reason: (event as { reason?: string }).reason }, 'hub refused the token; logging in again');
            this.invalidateToken();
          }
          hooks.onDisconnected?.();
        },
      },
    });
    this.ws = client;
    signal.addEventListener('abort', () => void client.dispose(), { once: true });
    // The iterator ends only on dispose or a terminal error; loop so nothing ends the agent.
    while (!signal.aborted) {
      const iterator = client.iterate<AgentDesiredStateSubscription>({ query: DESIRED_STATE_SUBSCRIPTION });
      try {
        for await (const result of iterator) {
          if (result.errors?.length) {
            this.options.logger.error({ errors: result.errors.map((e) => e.message) }, 'desired state subscription error');
            continue;
          }
          onState(desiredStateFromWire(result.data!.agentDesiredState));
        }
      } catch (err) {
        if (signal.aborted) break;
        this.options.logger.warn({ err: describe(err) }, 'subscription ended; resubscribing');
        await sleep(backoffDelay(1, base, max), signal);
      }
    }
  }

  async reportStatus(reports: StatusReport[]): Promise<void> {
    if (reports.length === 0) return;
    await this.send(AgentReportStatusDocument, { reports: reports.map((r) => ({ ...r, resources: r.resources ?? [] })) });
  }

  async reportInfo(host: string): Promise<void> {
    await this.send(AgentReportInfoDocument, { version: this.options.agentVersion, host });
  }

  async pushLogs(lines: LogLine[]): Promise<void> {
    if (lines.length === 0) return;
    await this.send(AgentPushLogsDocument, { lines });
  }

  async logWatermarks(): Promise<Map<string, string>> {
    const data = await this.authed(AgentLogWatermarksDocument, {});
    return new Map(data.agentLogWatermarks.map((w) => [w.deploymentId, w.timestamp]));
  }

  /**
   * A report mutation: over the open socket when there is one (already authenticated, no HTTP
   * request per report: about 2.5× cheaper for the hub), else over HTTP.
   */
  private async send<R, V extends Record<string, unknown>>(document: TypedDocumentNode<R, V>, variables: V): Promise<R> {
    if (this.socketReady && this.ws) {
      try {
        let data: R | undefined;
        for await (const result of this.ws.iterate({ query: printed(document), variables }) as AsyncIterable<ExecutionResult<R>>) {
          if (result.errors?.length) throw new Error(result.errors.map((e) => e.message).join('; '));
          data = result.data ?? undefined;
        }
        if (data === undefined) throw new Error('the hub sent no result');
        return data;
      } catch (err) {
        if (this.socketReady) throw err; // the hub refused it; HTTP would say the same
        // The socket dropped meanwhile: fall through to HTTP.
      }
    }
    return this.authed(document, variables);
  }

  /** A request with the agent token; one retry after a fresh login when the hub refuses it (expired, rotated). */
  private async authed<R, V extends Record<string, unknown>>(document: TypedDocumentNode<R, V>, variables: V): Promise<R> {
    // graphql-request's conditional variables type cannot resolve for a generic V: the callers' V is checked above.
    const call = async () => this.http.request<R, V>({ document, variables, requestHeaders: { authorization: `Bearer ${await this.validToken()}` } } as unknown as RequestOptions<V, R>);
    try {
      return await call();
    } catch (err) {
      if (err instanceof ClientError && err.response.status === 401) {
        this.invalidateToken();
        return call();
      }
      throw err;
    }
  }
}

export function describe(err: unknown): string {
  if (err instanceof ClientError) return err.response.errors?.map((e) => e.message).join('; ') ?? err.message;
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && 'reason' in err) return `socket closed: ${(err as { code?: number; reason?: string }).code} ${(err as { reason?: string }).reason}`;
  return String(err);
}

const printedDocuments = new WeakMap<object, string>();
/** A document's text, printed once (graphql-ws sends text). */
function printed(document: TypedDocumentNode<unknown, never>): string {
  let text = printedDocuments.get(document);
  if (!text) printedDocuments.set(document, (text = print(document)));
  return text;
}
