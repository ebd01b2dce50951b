import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws/client';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import {
  AgentCloseCode,
  AgentDesiredStateDocument,
  AgentLoginDocument,
  AgentLogWatermarksDocument,
  AgentPushLogsDocument,
  AgentReportInfoDocument,
  AgentReportRuntimePreviewDocument,
  type AgentRuntimePreviewReportInput,
  AgentReportStatusDocument,
  desiredStateFromWire,
  type AgentDesiredStateSubscription,
  type AgentLoginMutation,
  type AgentPushLogsMutation,
  type AgentReportStatusMutation,
  type DesiredState,
  type LogLine,
  type StatusReport,
} from '../../protocol/index.js';
import { backoffDelay, sleep } from './backoff.js';
import { onSocketClosed, type Refusal } from './decisions.js';
import { HubResponseError, postGraphQL, type HubDocument } from './hub-http.js';

export { HubResponseError } from './hub-http.js';

/** The agent's documents are text (protocol/generated, documentMode string): graphql-ws and HTTP send them as they are. */
export const DESIRED_STATE_SUBSCRIPTION = AgentDesiredStateDocument.toString();
/** The status report mutation exactly as the agent sends it over its socket (bench/ingest.ts sends the same text). */
export const REPORT_STATUS_MUTATION = AgentReportStatusDocument.toString();

/** Reconnect backoff of the desired-state socket (jittered exponential, see backoffDelay); bench/propagation's restart phase uses the same. */
export const HUB_RETRY_BASE_MS = 500;
export const HUB_RETRY_MAX_MS = 30_000;

export type StatusReportOutcome = Extract<AgentReportStatusMutation['agentReportStatus'], { __typename: 'AgentStatusReportResult' }>;
export type PushLogsOutcome = Extract<AgentPushLogsMutation['agentPushLogs'], { __typename: 'AgentPushLogsResult' }>;

/** The hub answered with a typed error (an errors-union member): the call was refused, nothing was written. */
export class HubRefusal extends Error {
  constructor(
    readonly operation: string,
    readonly refusal: Refusal,
  ) {
    super(`${operation} refused by the hub: ${refusal.__typename}${refusal.field ? ` (${refusal.field})` : ''}${refusal.rule ? ` (${refusal.rule})` : ''}: ${refusal.message}`);
    this.name = 'HubRefusal';
  }
}

/** Logging in failed; the message says why, `check` what to look at. */
export class HubLoginError extends Error {
  constructor(
    message: string,
    readonly reason: string,
    readonly check: string,
  ) {
    super(message);
    this.name = 'HubLoginError';
  }
}

/** Turn whatever a login attempt threw into a sentence naming the URL, the error and what to check. */
export function explainLoginFailure(err: unknown, url: string, targetId: string): HubLoginError {
  if (err instanceof HubLoginError) return err;
  if (err instanceof HubResponseError) {
    const first = err.response.errors?.[0];
    const code = (first?.extensions as { code?: string } | undefined)?.code;
    if (code === 'UNAUTHENTICATED') {
      return new HubLoginError(
        `the hub at ${url} refused the login of target ${targetId}: ${first!.message}`,
        first!.message,
        'DISTR_TARGET_ID and the secret (DISTR_TARGET_SECRET or DISTR_TARGET_SECRET_FILE); after the access was rotated, install the new secret',
      );
    }
    if (code === 'RATE_LIMITED') return new HubLoginError(`the hub at ${url} is rate-limiting logins of target ${targetId}: ${first!.message}`, first!.message, 'the secret: the previous attempts failed');
    if (!err.response.errors?.length) {
      return new HubLoginError(`the server at ${url} did not answer as a distr hub (HTTP ${err.response.status})`, `HTTP ${err.response.status}`, 'DISTR_HUB_URL: it must be the hub\'s base URL');
    }
    return new HubLoginError(`the hub at ${url} refused the login: ${first!.message}`, first!.message, 'the hub\'s log');
  }
  // node:http's errors carry the code themselves (ECONNREFUSED, ENOTFOUND, a TLS code); wrapped ones in `cause`.
  const { code, cause } = (err ?? {}) as { code?: string; cause?: { code?: string; message?: string } };
  const detail = code ?? cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
  return new HubLoginError(
    `cannot reach the hub at ${url}: ${detail}`,
    detail,
    'DISTR_HUB_URL, that the hub is running, and that this host can reach it (DNS, firewall, proxy, TLS)',
  );
}

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
  private ws: Client | null = null;
  /** Whether the socket is open and acknowledged: reports then go over it, not over HTTP. */
  private socketReady = false;
  private readonly graphqlUrl: string;
  private readonly endpoint: URL;

  constructor(private readonly options: HubClientOptions) {
    this.endpoint = new URL('/graphql', options.hubUrl);
    this.graphqlUrl = this.endpoint.toString();
  }

  /** A token with time left, logging in when needed (one login at a time). */
  async validToken(): Promise<string> {
    const margin = this.options.refreshMarginMs ?? 60_000;
    if (this.token && this.token.expiresAt - Date.now() > margin) return this.token.value;
    this.loggingIn ??= this.login().finally(() => (this.loggingIn = null));
    return this.loggingIn;
  }

  private async login(): Promise<string> {
    let data: AgentLoginMutation;
    try {
      data = await postGraphQL(this.endpoint, AgentLoginDocument, { targetId: this.options.targetId, secret: this.options.secret() });
    } catch (err) {
      throw explainLoginFailure(err, this.graphqlUrl, this.options.targetId);
    }
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
    const base = this.options.retryBaseMs ?? HUB_RETRY_BASE_MS;
    const max = this.options.retryMaxMs ?? HUB_RETRY_MAX_MS;
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
          const failure = err instanceof HubLoginError ? err : explainLoginFailure(err, this.graphqlUrl, this.options.targetId);
          this.options.logger.error({ hub: this.graphqlUrl, reason: failure.reason, check: failure.check }, `cannot log in to the hub: ${failure.message}`);
          throw failure;
        }
      },
      on: {
        connected: () => {
          this.socketReady = true;
          hooks.onConnected?.();
        },
        closed: (event) => {
          const wasReady = this.socketReady;
          this.socketReady = false;
          const { code, reason } = (event ?? {}) as { code?: number; reason?: string };
          const handling = onSocketClosed(code);
          if (handling.relogin) this.invalidateToken();
          // A connect attempt that never got acknowledged was already explained (login) or is a plain retry.
          if (wasReady || handling.relogin) this.options.logger[handling.level]({ code, reason, hub: this.graphqlUrl }, `hub closed the connection: ${handling.explanation}`);
          if (wasReady) hooks.onDisconnected?.();
        },
      },
    });
    this.ws = client;
    signal.addEventListener('abort', () => void client.dispose(), { once: true });
    // The iterator ends only on dispose or a terminal error (graphql-ws gives up on 4400, 4401,
    // 4429, 4500 and on a failed login); loop so nothing ends the agent, backing off further while
    // it keeps failing.
    let failures = 0;
    while (!signal.aborted) {
      const iterator = client.iterate<AgentDesiredStateSubscription>({ query: DESIRED_STATE_SUBSCRIPTION });
      try {
        for await (const result of iterator) {
          if (result.errors?.length) {
            this.options.logger.error({ errors: result.errors.map((e) => e.message) }, 'desired state subscription error');
            continue;
          }
          failures = 0;
          onState(desiredStateFromWire(result.data!.agentDesiredState));
        }
      } catch (err) {
        if (signal.aborted) break;
        if (!(err instanceof HubLoginError)) this.options.logger.warn({ err: describe(err) }, 'subscription ended; resubscribing');
      }
      await sleep(backoffDelay(failures++, base, max), signal);
    }
  }

  /** Send status reports; a typed refusal of the whole call throws a HubRefusal (resending cannot help). */
  async reportStatus(reports: StatusReport[]): Promise<StatusReportOutcome> {
    const result = (await this.send(AgentReportStatusDocument, { reports: reports.map((r) => ({ ...r, resources: r.resources ?? [] })) })).agentReportStatus;
    if (result.__typename !== 'AgentStatusReportResult') throw new HubRefusal('agentReportStatus', result);
    return result;
  }

  async reportInfo(host: string): Promise<void> {
    await this.send(AgentReportInfoDocument, { version: this.options.agentVersion, host });
  }

  /** Push log lines; a typed refusal of the whole call throws a HubRefusal. */
  async pushLogs(lines: LogLine[]): Promise<PushLogsOutcome> {
    const result = (await this.send(AgentPushLogsDocument, { lines })).agentPushLogs;
    if (result.__typename !== 'AgentPushLogsResult') throw new HubRefusal('agentPushLogs', result);
    return result;
  }

  /** Answer a runtime preview; a typed refusal (not ours, answered, expired) throws a HubRefusal. */
  async reportRuntimePreview(report: AgentRuntimePreviewReportInput): Promise<void> {
    const result = (await this.send(AgentReportRuntimePreviewDocument, { report })).agentReportRuntimePreview;
    if (result.__typename !== 'AgentRuntimePreviewReportResult') throw new HubRefusal('agentReportRuntimePreview', result);
  }

  async logWatermarks(): Promise<Map<string, string>> {
    const data = await this.authed(AgentLogWatermarksDocument, {});
    return new Map(data.agentLogWatermarks.map((w) => [w.deploymentId, w.timestamp]));
  }

  /**
   * A report mutation: over the open socket when there is one (already authenticated, no HTTP
   * request per report: about 2.5× cheaper for the hub), else over HTTP.
   */
  private async send<R, V extends Record<string, unknown>>(document: HubDocument<R, V>, variables: V): Promise<R> {
    if (this.socketReady && this.ws) {
      try {
        let data: R | undefined;
        for await (const result of this.ws.iterate({ query: document.toString(), variables }) as AsyncIterable<FormattedExecutionResult<R>>) {
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
  private async authed<R, V extends Record<string, unknown>>(document: HubDocument<R, V>, variables: V): Promise<R> {
    const call = async () => postGraphQL(this.endpoint, document, variables, { authorization: `Bearer ${await this.validToken()}` });
    try {
      return await call();
    } catch (err) {
      if (err instanceof HubResponseError && err.response.status === 401) {
        this.invalidateToken();
        return call();
      }
      throw err;
    }
  }
}

export function describe(err: unknown): string {
  if (err instanceof HubResponseError) return err.response.errors?.length ? err.response.errors.map((e) => e.message).join('; ') : err.message;
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && 'reason' in err) return `socket closed: ${(err as { code?: number; reason?: string }).code} ${(err as { reason?: string }).reason}`;
  return String(err);
}
