/**
 * Patch types the stand-in Kubernetes API server (test double) accepts: JSON merge patch
 * (RFC 7386), a strategic merge patch that merges the well-known lists by key and honours the
 * `$patch`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...` and `$retainKeys` directives
 * helm's three-way patches contain, and JSON patch (RFC 6902).
 */
import { StatusError } from './object-store.js';

type Json = unknown;
type JsonObject = Record<string, Json>;
const isObject = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function jsonMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = jsonMergePatch(out[key], value);
  }
  return out;
}

/** Merge keys of the lists the built-in types merge by key (k8s.io/api patchMergeKey tags). */
const LIST_MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  conditions: 'type',
  ownerReferences: 'uid',
};

function mergeKeyFor(field: string, items: Json[]): string | null {
  if (field === 'ports') {
    // Container ports merge by containerPort, Service ports by port.
    const sample = items.find(isObject);
    return sample && 'containerPort' in sample ? 'containerPort' : 'port';
  }
  return LIST_MERGE_KEYS[field] ?? null;
}

export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const directive = patch['$patch'];
  if (directive === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (directive === 'delete') return undefined;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  const retainKeys = patch['$retainKeys'];
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const listKey = key.slice('$deleteFromPrimitiveList/'.length);
      const remove = new Set((value as Json[]).map((v) => JSON.stringify(v)));
      if (Array.isArray(out[listKey])) out[listKey] = (out[listKey] as Json[]).filter((v) => !remove.has(JSON.stringify(v)));
      continue;
    }
    if (value === null) {
      delete out[key];
    } else if (Array.isArray(value)) {
      out[key] = mergeList(key, Array.isArray(out[key]) ? (out[key] as Json[]) : [], value, patch[`$setElementOrder/${key}`]);
    } else if (isObject(value)) {
      const merged = strategicMergePatch(out[key], value);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    } else {
      out[key] = value;
    }
  }
  if (Array.isArray(retainKeys)) {
    for (const key of Object.keys(out)) if (!retainKeys.includes(key)) delete out[key];
  }
  return out;
}

function mergeList(field: string, current: Json[], patch: Json[], order: Json): Json[] {
  const mergeKey = mergeKeyFor(field, [...patch, ...current]);
  if (!mergeKey) {
    // Lists without a merge key are replaced, except a `$patch: replace` wrapper element.
    return patch.filter((p) => !(isObject(p) && p['$patch'] === 'replace')).map(stripDirectives);
  }
  if (patch.some((p) => isObject(p) && p['$patch'] === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p['$patch'] === 'replace')).map(stripDirectives);
  }
  const result = current.map((c) => structuredClone(c));
  const indexOf = (key: Json) => result.findIndex((c) => isObject(c) && c[mergeKey] === key);
  for (const item of patch) {
    if (!isObject(item)) continue;
    const at = indexOf(item[mergeKey]);
    if (item['$patch'] === 'delete') {
      if (at >= 0) result.splice(at, 1);
    } else if (at >= 0) {
      result[at] = strategicMergePatch(result[at], item);
    } else {
      result.push(stripDirectives(item));
    }
  }
  if (Array.isArray(order)) {
    const rank = (c: Json) => {
      const i = order.findIndex((o) => isObject(o) && isObject(c) && o[mergeKey] === c[mergeKey]);
      return i < 0 ? order.length : i;
    };
    result.sort((a, b) => rank(a) - rank(b));
  }
  return result;
}

function stripDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) if (!k.startsWith('$')) out[k] = stripDirectives(v);
  return out;
}

interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: Json;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  return path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function readAt(doc: Json, path: string[]): Json {
  return path.reduce<Json>((v, k) => (Array.isArray(v) ? v[Number(k)] : isObject(v) ? v[k] : undefined), doc);
}

export function jsonPatch(target: Json, ops: JsonPatchOp[]): Json {
  let doc = structuredClone(target);
  const invalid = (msg: string) => new StatusError(422, 'Invalid', `json patch: ${msg}`);
  const write = (path: string[], value: Json, mode: 'add' | 'replace' | 'remove') => {
    if (path.length === 0) {
      doc = value;
      return;
    }
    const parent = readAt(doc, path.slice(0, -1));
    const last = path[path.length - 1]!;
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (mode === 'add') parent.splice(index, 0, value);
      else if (mode === 'replace') parent[index] = value;
      else parent.splice(index, 1);
    } else if (isObject(parent)) {
      if (mode !== 'add' && !(last in parent)) throw invalid(`path /${path.join('/')} does not exist`);
      if (mode === 'remove') delete parent[last];
      else parent[last] = value;
    } else {
      throw invalid(`parent of /${path.join('/')} does not exist`);
    }
  };
  for (const op of ops) {
    const path = pointer(op.path);
    switch (op.op) {
      case 'add':
      case 'replace':
        write(path, structuredClone(op.value), op.op);
        break;
      case 'remove':
        write(path, undefined, 'remove');
        break;
      case 'copy':
      case 'move': {
        const from = pointer(op.from ?? '');
        const value = structuredClone(readAt(doc, from));
        if (op.op === 'move') write(from, undefined, 'remove');
        write(path, value, 'add');
        break;
      }
      case 'test':
        if (JSON.stringify(readAt(doc, path)) !== JSON.stringify(op.value)) throw invalid(`test failed at ${op.path}`);
        break;
      default:
        throw invalid(`unknown op ${(op as { op: string }).op}`);
    }
  }
  return doc;
}

/** Apply a PATCH body by its Content-Type. */
export function applyPatch(target: Json, contentType: string, body: Json): Json {
  const type = contentType.split(';')[0]!.trim();
  switch (type) {
    case 'application/merge-patch+json':
    case 'application/apply-patch+yaml': // server-side apply, approximated as a merge
      return jsonMergePatch(target, body);
    case 'application/strategic-merge-patch+json':
      return strategicMergePatch(target, body);
    case 'application/json-patch+json':
      return jsonPatch(target, body as JsonPatchOp[]);
    default:
      throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
  }
}
