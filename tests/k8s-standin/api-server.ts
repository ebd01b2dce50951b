/**
 * HTTP layer of the stand-in Kubernetes API server (a test double: no real API server can run on
 * these machines). Routes discovery, CRUD, watch, patch and pod logs to the object store, and
 * answers errors with Kubernetes Status objects, so that the real `helm` binary and the real
 * @kubernetes/client-node can talk to it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import YAML from 'yaml';
import type { KubeObject, ObjectStore, WatchEvent } from './object-store.js';
import { StatusError, notFound, objectMatcher } from './object-store.js';
import { applyPatch } from './patches.js';
import type { PodLogs } from './pod-logs.js';
import type { ResourceType } from './resource-types.js';
import { SERVER_VERSION, apiGroup, apiGroupList, apiResourceList, apiVersions, findTypeByPlural, groupVersion, openApiV3GroupVersion, openApiV3Root } from './resource-types.js';

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  contentType?: string;
}

export interface ApiServerDeps {
  store: ObjectStore;
  logs: PodLogs;
  token: string;
  requests: RequestRecord[];
  /** Server-side defaulting on create/update (cluster IPs, replicas, strategies). */
  applyDefaults(type: ResourceType, obj: KubeObject): void;
}

interface ResourcePath {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, error: StatusError): void {
  sendJson(res, error.code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: error.message,
    reason: error.reason,
    ...(error.details ? { details: error.details } : {}),
    code: error.code,
  });
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (type.includes('protobuf')) throw new StatusError(415, 'UnsupportedMediaType', 'the stand-in API server only speaks JSON');
  try {
    return type.includes('yaml') ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new StatusError(400, 'BadRequest', `cannot parse request body: ${(err as Error).message}`);
  }
}

/** /api/v1/... or /apis/{group}/{version}/... into a resource path; null when not a resource URL. */
function parseResourcePath(segments: string[]): ResourcePath | null {
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === 'api' && segments.length >= 3) {
    [group, version, rest] = ['', segments[1]!, segments.slice(2)];
  } else if (segments[0] === 'apis' && segments.length >= 4) {
    [group, version, rest] = [segments[1]!, segments[2]!, segments.slice(3)];
  } else {
    return null;
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const namespaced = findTypeByPlural(group, version, rest[2]!);
    if (namespaced?.namespaced) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
  }
  const type = findTypeByPlural(group, version, rest[0]!);
  if (!type) throw new StatusError(404, 'NotFound', `the server could not find the requested resource`);
  return { type, namespace, name: rest[1], subresource: rest[2] };
}

function listKind(type: ResourceType): string {
  return `${type.kind}List`;
}

export function createRequestHandler(deps: ApiServerDeps) {
  const { store } = deps;

  function discovery(segments: string[]): unknown {
    const p = segments.join('/');
    if (p === 'version') return SERVER_VERSION;
    if (p === 'api') return apiVersions();
    if (p === 'apis') return apiGroupList();
    if (p === 'openapi/v3') return openApiV3Root();
    if (p.startsWith('openapi/v3/')) return openApiV3GroupVersion(p.slice('openapi/v3/'.length));
    if (segments[0] === 'api' && segments.length === 2) return apiResourceList('', segments[1]!);
    if (segments[0] === 'apis' && segments.length === 2) return apiGroup(segments[1]!);
    if (segments[0] === 'apis' && segments.length === 3) return apiResourceList(segments[1]!, segments[2]!);
    return undefined;
  }

  function watch(res: ServerResponse, target: ResourcePath, query: URLSearchParams): void {
    const labelSelector = query.get('labelSelector') ?? undefined;
    const fieldSelector = query.get('fieldSelector') ?? undefined;
    const selected = objectMatcher(labelSelector, fieldSelector);
    const matches = (event: WatchEvent) =>
      event.resource === target.type &&
      (target.namespace === undefined || event.object.metadata.namespace === target.namespace) &&
      selected(event.object);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // As kube-apiserver does: the client learns at once that the watch is established.
    res.flushHeaders();
    const write = (type: string, object: KubeObject) => res.write(`${JSON.stringify({ type, object })}\n`);
    const since = query.get('resourceVersion');
    if (!since || since === '0') {
      for (const obj of store.list(target.type, target.namespace, labelSelector, fieldSelector)) write('ADDED', obj);
    } else {
      for (const event of store.eventsSince(Number(since))) if (matches(event)) write(event.type, event.object);
    }
    const onEvent = (event: WatchEvent) => {
      if (matches(event)) write(event.type, event.object);
    };
    store.events.on('event', onEvent);
    const timeout = Number(query.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : null;
    res.on('close', () => {
      store.events.off('event', onEvent);
      if (timer) clearTimeout(timer);
    });
  }

  function deleteWithDependents(type: ResourceType, namespace: string | undefined, name: string, orphan: boolean): KubeObject {
    const deleted = store.delete(type, namespace, name);
    if (type.kind === 'Pod') deps.logs.drop(namespace ?? '', name);
    const dependents = store.all().filter(({ object }) =>
      type.kind === 'Namespace'
        ? object.metadata.namespace === name
        : !orphan && object.metadata.ownerReferences?.some((ref) => ref.uid === deleted.metadata.uid),
    );
    for (const { type: depType, object } of dependents) {
      if (store.get(depType, object.metadata.namespace, object.metadata.name)) {
        deleteWithDependents(depType, object.metadata.namespace, object.metadata.name, false);
      }
    }
    return deleted;
  }

  async function handleResource(req: IncomingMessage, res: ServerResponse, target: ResourcePath, query: URLSearchParams): Promise<void> {
    const { type, namespace, name, subresource } = target;
    const method = req.method ?? 'GET';
    if (!name) {
      if (method === 'GET' && query.get('watch') && query.get('watch') !== 'false') return watch(res, target, query);
      if (method === 'GET') {
        const items = store.list(type, namespace, query.get('labelSelector') ?? undefined, query.get('fieldSelector') ?? undefined);
        return sendJson(res, 200, { kind: listKind(type), apiVersion: groupVersion(type), metadata: { resourceVersion: String(store.currentRevision) }, items });
      }
      if (method === 'POST') {
        const body = (await readBody(req)) as KubeObject;
        if (query.get('dryRun')) return sendJson(res, 201, body);
        deps.applyDefaults(type, body);
        return sendJson(res, 201, store.create(type, namespace, body));
      }
      throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported on collections by the stand-in`);
    }
    if (subresource === 'log' && type.kind === 'Pod') {
      const pod = store.get(type, namespace, name);
      if (!pod) throw notFound(type, name);
      const containers = ((pod.spec?.containers ?? []) as { name: string }[]).map((c) => c.name);
      const container = query.get('container') ?? containers[0] ?? '';
      if (!containers.includes(container)) throw new StatusError(400, 'BadRequest', `container ${container} is not valid for pod ${name}`);
      return deps.logs.serve(res, namespace ?? '', name, container, query);
    }
    if (subresource && subresource !== 'status') throw new StatusError(404, 'NotFound', `the stand-in has no ${subresource} subresource`);
    switch (method) {
      case 'GET': {
        const obj = store.get(type, namespace, name);
        if (!obj) throw notFound(type, name);
        return sendJson(res, 200, obj);
      }
      case 'PUT': {
        const body = (await readBody(req)) as KubeObject;
        deps.applyDefaults(type, body);
        return sendJson(res, 200, store.update(type, namespace, name, body, subresource));
      }
      case 'PATCH': {
        const body = await readBody(req);
        const contentType = req.headers['content-type'] ?? '';
        const current = store.get(type, namespace, name);
        if (!current) {
          // Server-side apply creates missing objects; other patch types need an existing one.
          if (!contentType.startsWith('application/apply-patch')) throw notFound(type, name);
          const created = body as KubeObject;
          deps.applyDefaults(type, created);
          return sendJson(res, 201, store.create(type, namespace, created));
        }
        const patched = applyPatch(current, contentType, body) as KubeObject;
        // A patch carries the resourceVersion only to demand optimistic concurrency.
        if (patched.metadata.resourceVersion === current.metadata.resourceVersion) delete patched.metadata.resourceVersion;
        deps.applyDefaults(type, patched);
        return sendJson(res, 200, store.update(type, namespace, name, patched, subresource));
      }
      case 'DELETE': {
        const options = ((await readBody(req)) ?? {}) as { propagationPolicy?: string; orphanDependents?: boolean };
        const policy = query.get('propagationPolicy') ?? options.propagationPolicy;
        const orphan = policy === 'Orphan' || options.orphanDependents === true;
        return sendJson(res, 200, deleteWithDependents(type, namespace, name, orphan));
      }
      default:
        throw new StatusError(405, 'MethodNotAllowed', `${method} is not supported by the stand-in`);
    }
  }

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    deps.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.search, contentType: req.headers['content-type'] });
    try {
      if (['/healthz', '/readyz', '/livez'].includes(url.pathname)) {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
        return;
      }
      // client-go (helm) sends no credentials over plain http, so only a wrong token is refused.
      if (req.headers.authorization !== undefined && req.headers.authorization !== `Bearer ${deps.token}`) {
        throw new StatusError(401, 'Unauthorized', 'Unauthorized');
      }
      const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      const doc = req.method === 'GET' ? discovery(segments) : undefined;
      if (doc !== undefined) {
        if (doc === null) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
        return sendJson(res, 200, doc);
      }
      const target = parseResourcePath(segments);
      if (!target) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
      await handleResource(req, res, target, url.searchParams);
    } catch (err) {
      const status = err instanceof StatusError ? err : new StatusError(500, 'InternalError', (err as Error).stack ?? String(err));
      if (!res.headersSent) sendStatus(res, status);
      else res.end();
    }
  };
}
