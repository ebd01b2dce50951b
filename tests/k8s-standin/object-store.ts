/**
 * In-memory object store of the stand-in Kubernetes API server (test double). Keeps objects per
 * resource type, hands out resourceVersions from one counter, records watch events and applies
 * label/field selectors the way the real API server does for the simple cases tests need.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ResourceType } from './resource-types.js';
import { findTypeByKind, groupVersion } from './resource-types.js';

const NAMESPACE_TYPE = findTypeByKind('Namespace')!;

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    generateName?: string;
    [key: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
};

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface WatchEvent {
  type: WatchEventType;
  resource: ResourceType;
  object: KubeObject;
  resourceVersion: number;
}

/** An API error that the HTTP layer turns into a Kubernetes Status object. */
export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: { name?: string; kind?: string; group?: string },
  ) {
    super(message);
  }
}

export function notFound(type: ResourceType, name: string): StatusError {
  const what = type.group ? `${type.plural}.${type.group}` : type.plural;
  return new StatusError(404, 'NotFound', `${what} "${name}" not found`, { name, kind: type.plural, group: type.group });
}

const clone = <T>(value: T): T => structuredClone(value);

/** Everything except metadata and status: a change here bumps metadata.generation. */
function specPart(obj: KubeObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
  return JSON.stringify(rest);
}

export class ObjectStore {
  private readonly objects = new Map<ResourceType, Map<string, KubeObject>>();
  private revision = 1;
  /** Full event history so a watch can resume from any earlier resourceVersion (tests are small). */
  private readonly history: WatchEvent[] = [];
  readonly events = new EventEmitter();

  constructor() {
    this.events.setMaxListeners(0);
  }

  get currentRevision(): number {
    return this.revision;
  }

  private bucket(type: ResourceType): Map<string, KubeObject> {
    let map = this.objects.get(type);
    if (!map) this.objects.set(type, (map = new Map()));
    return map;
  }

  private key(namespace: string | undefined, name: string): string {
    return `${namespace ?? ''}/${name}`;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.bucket(type).get(this.key(namespace, name));
    return obj && clone(obj);
  }

  list(type: ResourceType, namespace?: string, labelSelector?: string, fieldSelector?: string): KubeObject[] {
    const matches = objectMatcher(labelSelector, fieldSelector);
    return [...this.bucket(type).values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .filter(matches)
      .map(clone);
  }

  /** All objects of all types, for cascade deletion and assertions. */
  all(): { type: ResourceType; object: KubeObject }[] {
    const out: { type: ResourceType; object: KubeObject }[] = [];
    for (const [type, map] of this.objects) for (const object of map.values()) out.push({ type, object: clone(object) });
    return out;
  }

  create(type: ResourceType, namespace: string | undefined, input: KubeObject): KubeObject {
    const obj = clone(input);
    obj.metadata ??= { name: '' };
    if (!obj.metadata.name && obj.metadata.generateName) {
      obj.metadata.name = obj.metadata.generateName + Math.random().toString(36).slice(2, 7);
    }
    if (!obj.metadata.name) throw new StatusError(422, 'Invalid', `${type.kind}: metadata.name: Required value`);
    if (type.namespaced) {
      if (!namespace) throw new StatusError(400, 'BadRequest', 'namespace is required');
      if (!this.bucket(NAMESPACE_TYPE).has(this.key(undefined, namespace))) {
        throw new StatusError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
      }
      obj.metadata.namespace = namespace;
    } else {
      delete obj.metadata.namespace;
    }
    const key = this.key(obj.metadata.namespace, obj.metadata.name);
    if (this.bucket(type).has(key)) {
      const what = type.group ? `${type.plural}.${type.group}` : type.plural;
      throw new StatusError(409, 'AlreadyExists', `${what} "${obj.metadata.name}" already exists`, { name: obj.metadata.name, kind: type.plural, group: type.group });
    }
    obj.apiVersion = groupVersion(type);
    obj.kind = type.kind;
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    obj.metadata.generation = 1;
    if (type.hasStatus && type.kind !== 'Namespace' && type.kind !== 'Service') obj.status = {};
    return this.commit(type, key, obj, 'ADDED');
  }

  /**
   * Replace an object. `subresource: 'status'` changes only the status; otherwise the stored
   * status is kept for types with a status subresource, as the real API server does.
   */
  update(type: ResourceType, namespace: string | undefined, name: string, input: KubeObject, subresource?: string): KubeObject {
    const key = this.key(type.namespaced ? namespace : undefined, name);
    const current = this.bucket(type).get(key);
    if (!current) throw notFound(type, name);
    const wantedVersion = input.metadata?.resourceVersion;
    if (wantedVersion && wantedVersion !== current.metadata.resourceVersion) {
      throw new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${type.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: type.plural, group: type.group });
    }
    let next: KubeObject;
    if (subresource === 'status') {
      next = { ...clone(current), status: clone(input.status ?? {}) };
    } else {
      next = clone(input);
      next.metadata = { ...next.metadata, name, uid: current.metadata.uid, creationTimestamp: current.metadata.creationTimestamp };
      if (type.namespaced) next.metadata.namespace = current.metadata.namespace;
      else delete next.metadata.namespace;
      if (type.hasStatus) next.status = clone(current.status);
      next.metadata.generation = (current.metadata.generation ?? 1) + (specPart(next) !== specPart(current) ? 1 : 0);
    }
    next.apiVersion = groupVersion(type);
    next.kind = type.kind;
    if (JSON.stringify({ ...next, metadata: { ...next.metadata, resourceVersion: undefined } }) ===
        JSON.stringify({ ...current, metadata: { ...current.metadata, resourceVersion: undefined } })) {
      return clone(current); // a no-op write keeps the resourceVersion, as the real server does
    }
    return this.commit(type, key, next, 'MODIFIED');
  }

  delete(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const key = this.key(type.namespaced ? namespace : undefined, name);
    const current = this.bucket(type).get(key);
    if (!current) throw notFound(type, name);
    this.bucket(type).delete(key);
    const deleted = clone(current);
    deleted.metadata.resourceVersion = String(++this.revision);
    this.emit({ type: 'DELETED', resource: type, object: deleted, resourceVersion: this.revision });
    return clone(deleted);
  }

  /** Events after `resourceVersion`, for a watch that starts in the past. */
  eventsSince(resourceVersion: number): WatchEvent[] {
    return this.history.filter((e) => e.resourceVersion > resourceVersion);
  }

  private commit(type: ResourceType, key: string, obj: KubeObject, eventType: WatchEventType): KubeObject {
    obj.metadata.resourceVersion = String(++this.revision);
    this.bucket(type).set(key, obj);
    this.emit({ type: eventType, resource: type, object: clone(obj), resourceVersion: this.revision });
    return clone(obj);
  }

  private emit(event: WatchEvent): void {
    this.history.push(event);
    this.events.emit('event', event);
  }
}

/** Predicate for a labelSelector and fieldSelector pair (list and watch filters). */
export function objectMatcher(labelSelector?: string | null, fieldSelector?: string | null): (obj: KubeObject) => boolean {
  const labelMatch = parseLabelSelector(labelSelector);
  const fieldMatch = parseFieldSelector(fieldSelector);
  return (obj) => labelMatch(obj.metadata.labels ?? {}) && fieldMatch(obj);
}

type LabelPredicate = (labels: Record<string, string>) => boolean;

/** Equality (=, ==, !=), set (in, notin) and existence (key, !key) selectors, comma-separated. */
export function parseLabelSelector(selector: string | undefined | null): LabelPredicate {
  if (!selector) return () => true;
  const terms = splitSelector(selector).map((term): LabelPredicate => {
    let m = /^([^!=\s]+)\s+(in|notin)\s+\((.*)\)$/.exec(term);
    if (m) {
      const [, key, op, raw] = m;
      const values = raw!.split(',').map((v) => v.trim());
      return op === 'in' ? (l) => key! in l && values.includes(l[key!]!) : (l) => !(key! in l) || !values.includes(l[key!]!);
    }
    m = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (m) {
      const [, key, op, value] = m;
      return op === '!=' ? (l) => l[key!] !== value : (l) => l[key!] === value;
    }
    if (term.startsWith('!')) return (l) => !(term.slice(1) in l);
    return (l) => term in l;
  });
  return (labels) => terms.every((t) => t(labels));
}

function splitSelector(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** metadata.name / metadata.namespace field selectors (what watch tools use). */
function parseFieldSelector(selector: string | undefined | null): (obj: KubeObject) => boolean {
  if (!selector) return () => true;
  const terms = selector.split(',').map((term) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(term.trim());
    if (!m) return () => true;
    const [, field, op, value] = m;
    const read = (o: KubeObject): unknown => field!.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
    return op === '!=' ? (o: KubeObject) => read(o) !== value : (o: KubeObject) => read(o) === value;
  });
  return (obj) => terms.every((t) => t(obj));
}

/** labelSelector string from a LabelSelector object (matchLabels + simple matchExpressions). */
export function selectorToString(selector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}
