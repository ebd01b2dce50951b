/** Subscriptions over graphql-ws: deployment status events (`organizationEvents`, filtered) and followed logs (`deploymentLogs`). */
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { DistrRequestError } from './errors.js';
import { DeploymentLogsDocument, OrganizationEventsDocument, type DeploymentLogsSubscription, type OrganizationEventsSubscription } from './generated/subscriptions.js';
import type { DeploymentLogLine, DeploymentLogStream, DeploymentStatusEvent, DeploymentStatusWatch } from './types.js';

const ORGANIZATION_EVENTS = print(OrganizationEventsDocument);
const DEPLOYMENT_LOGS = print(DeploymentLogsDocument);

export interface WatchOptions {
  /** Only this deployment's events; all deployments of the organization when omitted. */
  deploymentId?: string;
  /** Called once the socket is open and the hub accepted the API key. */
  onConnected?: () => void;
}

/** One graphql-ws subscription as an async stream of its `data`; GraphQL and socket failures become DistrRequestErrors. */
export function subscriptionStream<TData>(
  endpoint: string,
  apiKey: string,
  query: string,
  variables: Record<string, unknown>,
  onConnected?: () => void,
): { next(): Promise<TData | null>; close(): Promise<void> } {
  const client: Client = createClient({
    url: endpoint.replace(/^http/, 'ws'),
    // Node 20 has no global WebSocket.
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${apiKey}` },
    lazy: true,
    retryAttempts: 3,
    // Auth refusals (4401/4403) are final; network blips are retried.
    shouldRetry: (event) => !isAuthClose(event),
    on: { connected: () => onConnected?.() },
  });
  const iterator = client.iterate<TData>({ query, variables })[Symbol.asyncIterator]();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    // return() only unsubscribes; throw() also wakes a next() that is waiting for an event.
    await iterator.return?.();
    await iterator.throw?.(new Error('watch closed')).catch(() => undefined);
    await client.dispose();
  };
  return {
    close,
    /** The next event's data; null once closed or completed. */
    async next() {
      if (closed) return null;
      let step: IteratorResult<{ data?: TData | null; errors?: readonly unknown[] }>;
      try {
        step = await iterator.next();
      } catch (err) {
        if (closed) return null;
        throw subscriptionError(err, endpoint);
      }
      if (step.done) return null;
      const { data, errors } = step.value;
      if (errors?.length) throw graphQLError(errors[0]);
      return data ?? null;
    },
  };
}

export function watchDeploymentStatus(endpoint: string, apiKey: string, options: WatchOptions = {}): DeploymentStatusWatch {
  // The hub filters and starts with the deployment's current status, so nothing is missed.
  const stream = subscriptionStream<OrganizationEventsSubscription>(endpoint, apiKey, ORGANIZATION_EVENTS, { deploymentId: options.deploymentId ?? null }, options.onConnected);
  async function* events(): AsyncGenerator<DeploymentStatusEvent> {
    try {
      for (;;) {
        const data = await stream.next();
        if (!data) return;
        const event = data.organizationEvents;
        // resync events are followed by the current status when watching one deployment.
        if (!event || event.kind !== 'status' || !event.status || !event.deploymentId || !event.targetId) continue;
        if (options.deploymentId && event.deploymentId !== options.deploymentId) continue;
        yield { deploymentId: event.deploymentId, targetId: event.targetId, ...event.status };
      }
    } finally {
      await stream.close();
    }
  }
  return { [Symbol.asyncIterator]: events, close: stream.close };
}

export interface FollowLogsOptions {
  /** Stored lines to send first (default 100, at most 1000; 0: only new lines). */
  tail?: number;
  /** Only this resource's lines (compose service, or pod/container). */
  resource?: string;
  onConnected?: () => void;
}

/** A deployment's log: the recent stored lines, then each new line as the hub stores it. */
export function followDeploymentLogs(endpoint: string, apiKey: string, deploymentId: string, options: FollowLogsOptions = {}): DeploymentLogStream {
  const stream = subscriptionStream<DeploymentLogsSubscription>(
    endpoint,
    apiKey,
    DEPLOYMENT_LOGS,
    { deploymentId, tail: options.tail ?? 100, resource: options.resource ?? null },
    options.onConnected,
  );
  async function* lines(): AsyncGenerator<DeploymentLogLine> {
    try {
      for (;;) {
        const data = await stream.next();
        if (!data) return;
        yield data.deploymentLogs;
      }
    } finally {
      await stream.close();
    }
  }
  return { [Symbol.asyncIterator]: lines, close: stream.close };
}

function isAuthClose(event: unknown): boolean {
  const code = (event as { code?: number })?.code;
  return code === 4401 || code === 4403;
}

function graphQLError(error: unknown): DistrRequestError {
  const e = error as { message?: string; extensions?: { code?: unknown } };
  const code = typeof e.extensions?.code === 'string' ? e.extensions.code : 'GRAPHQL';
  return new DistrRequestError(e.message ?? 'subscription failed', code);
}

/** graphql-ws rejects with a CloseEvent, an Error event, or an array of GraphQL errors. */
function subscriptionError(err: unknown, endpoint: string): DistrRequestError {
  if (Array.isArray(err)) return graphQLError(err[0]);
  const close = err as { code?: number; reason?: string };
  if (close?.code === 4401) return new DistrRequestError(close.reason || 'invalid API key', 'UNAUTHENTICATED');
  if (close?.code === 4403) return new DistrRequestError(close.reason || 'forbidden', 'FORBIDDEN');
  const detail = close?.reason || (err as Error)?.message || (typeof close?.code === 'number' ? `socket closed (${close.code})` : 'socket error');
  return new DistrRequestError(`subscription to ${endpoint} failed: ${detail}`, 'NETWORK', undefined, { cause: err });
}
