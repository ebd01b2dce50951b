import { AgentCloseCode } from '../protocol/index.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { GraphQLError } from 'graphql';
import { createYoga, type YogaInitialContext } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { emitTextMessagesAsStrings, reviveQueryText } from './ws-messages.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import type { Context, HubRuntime, Principal } from './context.js';
import type { HubEnv } from './env.js';
import { DistrError, NotFoundError } from './errors.js';
import type { Logger } from './logger.js';
import { openOrm, migrate, pendingMigrations, type Orm } from './db/orm.js';
import { EventBus } from './events/bus.js';
import { AgentTokens } from './auth/agent-tokens.js';
import { LoginRateLimiter } from './auth/rate-limit.js';
import { authenticate, bearerFrom, credentialFromParams, GenerationCache, API_KEY_REFUSED } from './auth/principal.js';
import { currentApiKeyPrincipal } from './auth/api-keys.js';
import { VendorSockets } from './auth/vendor-sockets.js';
import { databaseUnavailableError, isDatabaseUnavailable } from './db/unavailable.js';
import { corsFor, originAllowed } from './cors.js';
import { idempotencyPlugin } from './idempotency.js';
import { newSecret } from './auth/secrets.js';
import { handleAuthRoute, sameOrigin } from './auth/http.js';
import { CSRF_HEADER, sessionById, sessionCookieFrom, sessionFor } from './auth/sessions.js';
import { AgentConnections } from './agents/connections.js';
import { DesiredStateFanout } from './agents/fanout.js';
import { RolloutController } from './rollouts/controller.js';
import { bootstrapFirstRun, sharedSetting } from './orgs/bootstrap.js';
import { schema } from './schema/index.js';
import { loadKeyring } from './secrets/encryption.js';
import { AGENT_CHART_PATH } from './targets/install.js';
import { agentChartArchive } from './targets/chart-archive.js';
import { reencryptStaleValues } from './secrets/rotation.js';
import { HubMetrics, routeOf } from './metrics/metrics.js';
import { serveConsole } from './console.js';

/** A start-up failure stated as one sentence a person can act on. */
export class HubStartError extends Error {}

export interface RunningHub {
  url: string;
  port: number;
  runtime: HubRuntime;
  orm: Orm;
  /** The first-run admin key, when this start created the first organization. */
  bootstrapKey: string | null;
  /** The first-run admin user's e-mail and password (console sign-in), with bootstrapKey. */
  bootstrapAdmin: { email: string; password: string } | null;
  close(): Promise<void>;
}

type WsExtra = {
  request: IncomingMessage;
  socket: WebSocket;
  principal?: Principal | null;
  connectionId?: string;
  /** Stops tracking a vendor socket (see VendorSockets). */
  untrack?: () => void;
};

/** Start the hub on an existing database: migrate, bootstrap, serve yoga + graphql-ws on one port. */
export async function startHub(env: HubEnv, databaseUrl: string, logger: Logger): Promise<RunningHub> {
  const orm = await openOrm(databaseUrl);
  const applied = await migrate(orm);
  if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');
  const rootEm = orm.em as unknown as EntityManager;

  const keyring = await loadKeyring(env);
  const reencrypted = await reencryptStaleValues(rootEm.fork(), keyring);
  logger.info({ keyId: keyring.current.id, source: keyring.source, reencrypted }, 'encryption key loaded');
  const first = await bootstrapFirstRun(rootEm.fork());
  const jwtSecret = env.DISTR_JWT_SECRET ?? (await sharedSetting(rootEm.fork(), 'agent_token_key', newSecret));
  let connections: AgentConnections | null = null;
  const metrics = new HubMetrics({ connectedAgents: () => connections?.localCount ?? 0, rootEm });
  const bus = new EventBus(databaseUrl, logger.child({ source: 'bus' }), () => metrics.busReconnects.inc());
  await bus.start();
  const instanceId = randomUUID();
  const generations = new GenerationCache(rootEm);
  bus.on('credentialRotated', ({ targetId, generation }) => generations.set(targetId, generation));
  // After the bus reconnects ('*'), rotations may have been missed: read generations afresh.
  bus.on('targetsChanged', ({ targetIds }) => targetIds.includes('*') && generations.clear());
  const runtime: HubRuntime = {
    env,
    logger,
    bus,
    agentTokens: new AgentTokens(jwtSecret, env.DISTR_AGENT_TOKEN_TTL_SECONDS),
    connections: (connections = new AgentConnections(rootEm, bus, instanceId, logger.child({ source: 'connections' }))),
    loginLimiter: new LoginRateLimiter(env.DISTR_AGENT_LOGIN_MAX_FAILURES),
    fanout: new DesiredStateFanout(rootEm, bus, logger.child({ source: 'fanout' }), keyring, metrics),
    generations,
    keyring,
    vendorSockets: new VendorSockets(rootEm, bus, logger.child({ source: 'vendor-sockets' })),
    metrics,
    instanceId,
    rootEm,
    rollouts: new RolloutController(rootEm, bus, databaseUrl, instanceId, logger.child({ source: 'rollouts' }), metrics),
  };
  runtime.rollouts.start();

  const yoga = createYoga<{ req?: IncomingMessage; wsPrincipal?: Principal | null }, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // Every GraphiQL asset (JS, CSS, editor workers) inlined by the hub: the playground works offline.
    graphiql: { subscriptionsProtocol: 'WS', title: 'distr hub' },
    // The playground's page (GraphiQL's bundled JS, ~70 MB of RSS once loaded) is imported on the
    // first visit, not at start: most hubs never serve it.
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    cors: corsFor(env.DISTR_CORS_ORIGINS),
    logging: false,
    // The body limit is the hub's own (`handle` below: any body needs a Content-Length, at most
    // DISTR_MAX_BODY_BYTES, and node's parser never hands on more body than it declares). Yoga's
    // would re-wrap every body in a byte-counting stream and a new Request, for nothing.
    maxRequestBodySize: false,
    plugins: [
      maxDepthPlugin({ n: env.DISTR_MAX_QUERY_DEPTH, exposeLimits: true }),
      costLimitPlugin({ maxCost: env.DISTR_MAX_QUERY_COST, exposeLimits: true }),
      maxAliasesPlugin({ n: 30, exposeLimits: true }),
      idempotencyPlugin(),
    ],
    maskedErrors: {
      maskError: (error, message) => {
        const original = (error as GraphQLError).originalError;
        if (original instanceof DistrError) {
          return new GraphQLError(original.message, {
            nodes: (error as GraphQLError).nodes,
            path: (error as GraphQLError).path,
            extensions: { code: original instanceof NotFoundError ? 'NOT_FOUND' : 'BAD_INPUT' },
          });
        }
        if (error instanceof GraphQLError && !original) return error;
        if (original instanceof GraphQLError) return original;
        if (isDatabaseUnavailable(original ?? error)) {
          logger.warn({ err: (original ?? error) as Error }, 'database unavailable');
          return databaseUnavailableError();
        }
        logger.error({ err: (original ?? error) as Error }, 'unexpected error in resolver');
        return new GraphQLError(message, { extensions: { code: 'INTERNAL' } });
      },
    },
    context: async (initial: YogaInitialContext & { wsPrincipal?: Principal | null }): Promise<Context> => {
      if (initial.wsPrincipal !== undefined) {
        // Over websockets the principal was authenticated at connect, and `em` is already on the
        // initial context as a lazy fork (see onSubscribe): an agent's long-lived subscription never
        // touches it, and an entity manager per idle socket is memory for nothing.
        return { principal: initial.wsPrincipal, hub: runtime } as Omit<Context, 'em'> as Context;
      }
      const em = rootEm.fork();
      const bearer = bearerFrom(initial.request.headers.get('authorization'));
      const cookie = bearer ? null : sessionCookieFrom(initial.request.headers.get('cookie'));
      let auth;
      try {
        if (cookie) {
          // A console session. Its POSTs must carry its CSRF token (a header another site cannot set).
          const signedIn = await sessionFor(em, cookie);
          if (!signedIn) throw new GraphQLError('session expired or signed out: sign in again', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
          if (initial.request.method !== 'GET' && initial.request.headers.get(CSRF_HEADER) !== signedIn.session.csrfToken) {
            throw new GraphQLError('missing or wrong X-CSRF-Token header for a cookie-authenticated request', { extensions: { code: 'FORBIDDEN', http: { status: 403 } } });
          }
          return { em, principal: signedIn.principal, hub: runtime };
        }
        auth = await authenticate(() => em, runtime, bearer);
      } catch (err) {
        if (isDatabaseUnavailable(err)) throw databaseUnavailableError();
        throw err;
      }
      // The auth rule (docs/architecture.md): a credential that identifies no one now is 401 UNAUTHENTICATED.
      if (!auth.ok) throw new GraphQLError(auth.reason, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
      return { em, principal: auth.principal, hub: runtime };
    },
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const route = routeOf(url);
    res.once('finish', () => metrics.httpRequests.inc({ route, status: String(res.statusCode) }));
    if (url === '/metrics' && req.method === 'GET') {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      return res.end(body);
    }
    if (url.startsWith('/auth/') && (await handleAuthRoute(req, res, runtime))) return;
    if (url === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (url === AGENT_CHART_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
      try {
        const archive = await agentChartArchive();
        res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': String(archive.length) });
        return res.end(req.method === 'HEAD' ? undefined : archive);
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'packing the agent chart failed');
        return sendJson(res, 500, { status: 'agent chart unavailable' });
      }
    }
    if (url === '/readyz') {
      try {
        const pending = await pendingMigrations(orm);
        if (pending > 0) return sendJson(res, 503, { status: 'migrations pending', pending });
        return sendJson(res, 200, { status: 'ready' });
      } catch (err) {
        // The reason goes to the log, never to the caller: it names the database's address.
        logger.warn({ err }, 'readiness check: database unreachable');
        return sendJson(res, 503, { status: 'database unreachable' });
      }
    }
    // Any body must declare its length (no chunked upload), and stay within the limit.
    if (req.method === 'POST' || req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined) {
      const length = Number(req.headers['content-length'] ?? NaN);
      if (Number.isNaN(length)) {
        return sendJson(res, 411, { errors: [{ message: 'a Content-Length header is required', extensions: { code: 'LENGTH_REQUIRED' } }] });
      }
      if (length > env.DISTR_MAX_BODY_BYTES) {
        return sendJson(res, 413, {
          errors: [{ message: `request body of ${length} bytes exceeds the limit of ${env.DISTR_MAX_BODY_BYTES} bytes`, extensions: { code: 'PAYLOAD_TOO_LARGE' } }],
        });
      }
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && route === 'console') return serveConsole(req, res);
    return yoga(req, res);
  };
  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 65_000;

  // Listen before the websocket server attaches, so a busy port is this one clear error.
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A deep accept queue (the kernel caps it at net.core.somaxconn): after a restart every agent
      // connects within seconds, and a full queue drops SYNs, which clients resend only after 1 s, 3 s, …
      server.listen({ port: env.PORT, host: env.HOST, backlog: 4096 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // Nothing may keep the process alive after a failed start: release what was opened.
    await runtime.connections.stop();
    await bus.stop();
    await orm.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new HubStartError(`port ${env.PORT} on ${env.HOST} is already in use; stop what listens there or set PORT to a free port`);
    if (code === 'EACCES') throw new HubStartError(`not allowed to listen on port ${env.PORT} on ${env.HOST}; use a port above 1023 or run with the right privileges`);
    throw err;
  }

  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    maxPayload: env.DISTR_MAX_BODY_BYTES,
    // Browsers do not apply CORS to websockets: refuse a foreign page's upgrade here (agents and
    // other non-browser clients send no Origin).
    verifyClient: ({ origin, req }: { origin?: string; req: IncomingMessage }) => originAllowed(origin, req.headers.host, env.DISTR_CORS_ORIGINS),
  });
  const wsLogger = logger.child({ source: 'ws' });
  const wsServer = useServer<Record<string, unknown> | undefined, WsExtra>(
    {
      jsonMessageReviver: reviveQueryText,
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: (args: any) => args.rootValue.subscribe(args),
      onConnect: async (ctx) => {
        const credential = credentialFromParams(ctx.connectionParams);
        // Read once: the credential is not kept for the socket's life (tens of thousands of idle agents).
        (ctx as { connectionParams?: unknown }).connectionParams = undefined;
        const headers = ctx.extra.request.headers;
        // A browser page of this hub (Origin equal to the hub's host) may open a socket without a
        // credential: the console signs in by its session cookie, GraphiQL authenticates each
        // operation by the headers of its Headers tab. Any other socket without a credential
        // (an agent, a script) is told to log in first: 4401.
        const browserPage = typeof headers.origin === 'string' && sameOrigin(headers);
        if (!credential && !browserPage) {
          metrics.wsConnections.inc({ outcome: 'refused' });
          ctx.extra.socket.close(AgentCloseCode.Unauthorized, 'no token in connection_init');
          return false;
        }
        let auth;
        try {
          // Without a credential in connection_init, the console's session cookie (same origin only:
          // browsers send cookies on cross-site websocket upgrades too).
          const cookie = credential ? null : sessionCookieFrom(headers.cookie);
          if (cookie && browserPage) {
            const signedIn = await sessionFor(rootEm.fork(), cookie);
            if (signedIn) {
              metrics.wsConnections.inc({ outcome: 'accepted' });
              ctx.extra.principal = signedIn.principal;
              (ctx.extra as { request?: IncomingMessage }).request = undefined;
              return true;
            }
          }
          auth = await authenticate(() => rootEm.fork(), runtime, credential);
        } catch (err) {
          wsLogger.warn({ err }, 'authenticating a websocket failed');
          ctx.extra.socket.close(AgentCloseCode.InternalError, isDatabaseUnavailable(err) ? 'the database is unavailable; retry shortly' : 'internal error');
          return false;
        }
        if (!auth.ok) {
          metrics.wsConnections.inc({ outcome: 'refused' });
          ctx.extra.socket.close(auth.code, auth.reason);
          return false;
        }
        metrics.wsConnections.inc({ outcome: 'accepted' });
        ctx.extra.principal = auth.principal;
        // The upgrade request (headers and all) is not needed once authenticated; do not keep it
        // for the socket's whole life (tens of thousands of idle agents).
        (ctx.extra as { request?: IncomingMessage }).request = undefined;
        const principal = auth.principal;
        if (principal?.kind === 'vendor' && principal.apiKeyId) {
          ctx.extra.untrack = runtime.vendorSockets.track(principal.apiKeyId, auth.credentialExpiresAt ?? null, (code, reason) => ctx.extra.socket.close(code, reason));
        }
        if (principal?.kind === 'agent') {
          ctx.extra.connectionId = await runtime.connections.opened({
            targetId: principal.targetId,
            organizationId: principal.organizationId,
            generation: principal.generation,
            close: (code, reason) => ctx.extra.socket.close(code, reason),
          });
        }
        return true;
      },
      onClose: async (ctx) => {
        ctx.extra.untrack?.();
        if (ctx.extra.connectionId) await runtime.connections.closed(ctx.extra.connectionId).catch((err: Error) => wsLogger.warn({ err: err.message }, 'closing connection row failed'));
      },
      onSubscribe: async (ctx, _id, payload) => {
        // Every operation on a vendor socket is authorized against the key's state now, not at
        // connect: a revoked or expired key ends the socket; a changed role applies at once.
        const connected = ctx.extra.principal;
        if (connected?.kind === 'vendor' && connected.sessionId) {
          // A console session: signed out or expired ends the socket; a changed role applies at once.
          const current = await sessionById(rootEm.fork(), connected.sessionId);
          if (!current) {
            setImmediate(() => ctx.extra.socket.close(AgentCloseCode.Unauthorized, 'session expired or signed out'));
            return [new GraphQLError('session expired or signed out: sign in again', { extensions: { code: 'UNAUTHENTICATED' } })];
          }
          ctx.extra.principal = current.principal;
        } else if (connected?.kind === 'vendor' && connected.apiKeyId) {
          let current;
          try {
            current = await currentApiKeyPrincipal(rootEm.fork(), connected.apiKeyId);
          } catch (err) {
            if (isDatabaseUnavailable(err)) return [databaseUnavailableError()];
            throw err;
          }
          if (!current) {
            ctx.extra.untrack?.();
            // The refusal goes out first, then the socket ends.
            setImmediate(() => ctx.extra.socket.close(AgentCloseCode.Unauthorized, API_KEY_REFUSED));
            return [new GraphQLError(API_KEY_REFUSED, { extensions: { code: 'UNAUTHENTICATED' } })];
          }
          ctx.extra.principal = current.principal;
        }
        // A small initial context (not the whole graphql-ws context): it lives as long as the subscription.
        let principal = ctx.extra.principal ?? null;
        if (!principal) {
          // A socket opened without credentials (GraphiQL's, whose connection_init is empty) may
          // authenticate each operation by the headers it carries in `extensions.headers`.
          // Vendors only: an agent's liveness is tied to an authenticated socket.
          const bearer = credentialFromParams(payload.extensions);
          if (bearer) {
            const auth = await authenticate(() => rootEm.fork(), runtime, bearer);
            if (!auth.ok) return [new GraphQLError(auth.reason, { extensions: { code: auth.code === AgentCloseCode.Unauthorized ? 'UNAUTHENTICATED' : 'FORBIDDEN' } })];
            if (auth.principal?.kind === 'agent') return [new GraphQLError('agents authenticate in connection_init', { extensions: { code: 'FORBIDDEN' } })];
            principal = auth.principal;
          }
        }
        const initial = { req: undefined, params: payload, wsPrincipal: principal };
        let em: EntityManager | undefined;
        Object.defineProperty(initial, 'em', { enumerable: true, configurable: true, get: () => (em ??= rootEm.fork()) });
        const { schema: s, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped(initial);
        const args = {
          schema: s,
          operationName: payload.operationName,
          document: parse(payload.query),
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length > 0) return errors; // counted by onError
        metrics.wsOperations.inc({ outcome: 'started' });
        return args;
      },
      onError: () => void metrics.wsOperations.inc({ outcome: 'error' }),
      onComplete: () => void metrics.wsOperations.inc({ outcome: 'completed' }),
    },
    wss,
    0, // no per-socket ping timers from graphql-ws: the keepalive below pings every socket
  );

  // Keepalive: ping every socket once per interval; one that did not answer its previous ping is
  // dead. The sockets are pinged in slices spread over the interval, not all in one burst, so
  // tens of thousands of idle agents do not stall the event loop (and every push) once a period.
  const alive = new WeakMap<WebSocket, boolean>();
  function answered(this: WebSocket) {
    alive.set(this, true);
  }
  wss.on('connection', (socket) => {
    socket.emit = emitTextMessagesAsStrings;
    alive.set(socket, true);
    socket.on('pong', answered); // one shared listener, no closure per socket
  });
  const KEEPALIVE_SLICES = 20;
  let pass: WebSocket[] = [];
  let cursor = 0;
  let slice = 0;
  const keepalive = setInterval(() => {
    // A pass starts once per interval (every KEEPALIVE_SLICES ticks), however few sockets there
    // are: each socket is pinged once per interval and has the whole interval to answer. (Starting
    // a pass whenever the last one ended pinged a lone socket every tick, and a loaded machine's
    // late pong then got it terminated.)
    if (slice === 0) {
      pass = [...wss.clients];
      cursor = 0;
    }
    slice = (slice + 1) % KEEPALIVE_SLICES;
    const end = slice === 0 ? pass.length : Math.min(pass.length, Math.ceil((pass.length * slice) / KEEPALIVE_SLICES));
    for (; cursor < end; cursor++) {
      const socket = pass[cursor]!;
      if (socket.readyState !== socket.OPEN) continue;
      if (alive.get(socket) === false) {
        socket.terminate();
        continue;
      }
      alive.set(socket, false);
      socket.ping();
    }
    if (slice === 0) pass = [];
  }, (env.DISTR_KEEPALIVE_SECONDS * 1000) / KEEPALIVE_SLICES);
  keepalive.unref();

  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  if (!env.DISTR_PUBLIC_URL) runtime.env = { ...env, PORT: port };

  return {
    url,
    port,
    runtime,
    orm,
    bootstrapKey: first?.apiKey ?? null,
    bootstrapAdmin: first ? { email: first.adminEmail, password: first.adminPassword } : null,
    async close() {
      clearInterval(keepalive);
      for (const socket of wss.clients) socket.close(AgentCloseCode.GoingAway, 'hub shutting down');
      await wsServer.dispose();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await runtime.connections.stop();
      await runtime.rollouts.stop();
      await bus.stop();
      await orm.close();
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
