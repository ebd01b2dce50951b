/** Deployment status events over graphql-ws: the hub's `organizationEvents` subscription, filtered. */
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { DistrRequestError } from './errors.js';
import { OrganizationEventsDocument, type OrganizationEventsSubscription } from './generated/subscriptions.js';
import type { DeploymentStatusEvent, DeploymentStatusWatch } from './types.js';

const ORGANIZATION_EVENTS = print(OrganizationEventsDocument);

export interface WatchOptions {
  /** Only this deployment's events; all deployments of the organization when omitted. */
  deploymentId?: string;
  /** Called once the socket is open and the hub accepted the API key. */
  onConnected?: () => void;
}

export function watchDeploymentStatus(endpoint: string, apiKey: string, options: WatchOptions = {}): DeploymentStatusWatch {
  const client: Client = createClient({
    url: endpoint.replace(/^http/, 'ws'),
    // Node 20 has no global WebSocket.
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${apiKey}` },
    lazy: true,
    retryAttempts: 3,
    // Auth refusals (4401/4403) are final; network blips are retried.
    shouldRetry: (event) => !isAuthClose(event),
    on: { connected: () => options.onConnected?.() },
  });
  const iterator = client.iterate<OrganizationEventsSubscription>({
    query: ORGANIZATION_EVENTS,
    // The hub filters and starts with the deployment's current status, so nothing is missed.
    variables: { deploymentId: options.deploymentId ?? null },
  })[Symbol.asyncIterator]();
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    // return() only unsubscribes; throw() also wakes a next() that is waiting for an event.
    await iterator.return?.();
    await iterator.throw?.(new Error('watch closed')).catch(() => undefined);
    await client.dispose();
  };

  async function* events(): AsyncGenerator<DeploymentStatusEvent> {
    try {
      while (!closed) {
        let step: IteratorResult<{ data?: OrganizationEventsSubscription | null; errors?: readonly unknown[] }>;
        try {
          step = await iterator.next();
        } catch (err) {
          if (closed) return;
          throw subscriptionError(err, endpoint);
        }
        if (step.done) return;
        const { data, errors } = step.value;
        if (errors?.length) throw graphQLError(errors[0]);
        const event = data?.organizationEvents;
        // resync events are followed by the current status when watching one deployment.
        if (!event || event.kind !== 'status' || !event.status || !event.deploymentId || !event.targetId) continue;
        if (options.deploymentId && event.deploymentId !== options.deploymentId) continue;
        yield { deploymentId: event.deploymentId, targetId: event.targetId, ...event.status };
      }
    } finally {
      await close();
    }
  }

  return { [Symbol.asyncIterator]: events, close };
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
