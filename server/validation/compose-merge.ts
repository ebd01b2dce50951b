/**
 * How compose combines definitions (compose-go's override package and loader/extends.go), for
 * one file: in-file `extends` (with `!reset` / `!override` applied to what is inherited) and
 * several YAML documents in one stream, merged in order.
 */
import { pathMatches } from './compose-interpolate.js';

export class MergeError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

type Dict = Record<string, unknown>;
type Merger = (base: unknown, other: unknown, path: string[]) => unknown;

const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

function intoSequence(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return [value];
  if (isDict(value)) {
    const seq: string[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (v === null || v === undefined) seq.push(k);
      else if (Array.isArray(v)) for (const e of v) seq.push(`${k}=${String(e)}`);
      else seq.push(`${k}=${String(v)}`);
    }
    return seq.sort();
  }
  return [];
}

function intoMapping(value: unknown, defaults: Dict | null): Dict {
  if (isDict(value)) return value;
  const out: Dict = {};
  if (Array.isArray(value)) for (const s of value) out[String(s)] = defaults ? { ...defaults } : null;
  return out;
}

const toSequence: Merger = (a, b) => [...intoSequence(a), ...intoSequence(b)];
const replace: Merger = (_a, b) => b;
const extraHosts: Merger = (a, b) => {
  const right = intoSequence(a);
  return [...right, ...intoSequence(b).filter((v) => !right.includes(v))];
};
const dependsOn: Merger = (a, b, p) => {
  const d = { condition: 'service_started', required: true };
  return mergeMappings(intoMapping(a, d), intoMapping(b, d), p);
};
const asMappings: Merger = (a, b, p) => mergeMappings(intoMapping(a, null), intoMapping(b, null), p);
const build: Merger = (a, b, p) => {
  const toBuild = (v: unknown): Dict => (typeof v === 'string' ? { context: v } : isDict(v) ? v : {});
  return mergeMappings(toBuild(a), toBuild(b), p);
};
const logging: Merger = (a, b, p) => {
  if (!isDict(a) || !isDict(b)) return b ?? a;
  if (!('driver' in a) || !('driver' in b) || a.driver === b.driver) return mergeMappings(a, b, p);
  return b;
};
const ulimit: Merger = (_a, b, p) => (isDict(b) ? mergeMappings(b, b, p) : b);

const SPECIALS: [string[], Merger][] = (
  [
    ['networks.*.labels', toSequence],
    ['volumes.*.labels', toSequence],
    ['services.*.annotations', toSequence],
    ['services.*.build', build],
    ['services.*.build.args', toSequence],
    ['services.*.build.additional_contexts', toSequence],
    ['services.*.build.extra_hosts', extraHosts],
    ['services.*.build.labels', toSequence],
    ['services.*.command', replace],
    ['services.*.depends_on', dependsOn],
    ['services.*.deploy.labels', toSequence],
    ['services.*.dns', toSequence],
    ['services.*.dns_opt', toSequence],
    ['services.*.dns_search', toSequence],
    ['services.*.entrypoint', replace],
    ['services.*.env_file', toSequence],
    ['services.*.label_file', toSequence],
    ['services.*.environment', toSequence],
    ['services.*.extra_hosts', extraHosts],
    ['services.*.healthcheck.test', replace],
    ['services.*.labels', toSequence],
    ['services.*.volumes.*.volume.labels', toSequence],
    ['services.*.logging', logging],
    ['services.*.models', asMappings],
    ['services.*.networks', asMappings],
    ['services.*.sysctls', toSequence],
    ['services.*.tmpfs', toSequence],
    ['services.*.ulimits.*', ulimit],
  ] as [string, Merger][]
).map(([p, m]) => [p.split('.'), m]);

function mergeMappings(base: Dict, other: Dict, path: string[]): Dict {
  for (const [k, v] of Object.entries(other)) {
    if (!(k in base)) {
      base[k] = v;
      continue;
    }
    base[k] = mergeYaml(base[k], v, [...path, k]);
  }
  return base;
}

export function mergeYaml(base: unknown, other: unknown, path: string[]): unknown {
  const special = SPECIALS.find(([pattern]) => pathMatches(path, pattern));
  if (special) return special[1](base, other, path);
  if (other === null || other === undefined) return base;
  if (isDict(base)) {
    if (!isDict(other)) throw new MergeError(path.join('.'), `cannot override ${path.join('.')}`);
    return mergeMappings(base, other, path);
  }
  if (Array.isArray(base)) {
    if (!Array.isArray(other)) throw new MergeError(path.join('.'), `cannot override ${path.join('.')}`);
    return [...base, ...other];
  }
  return other;
}

export function deepClone<T>(value: T): T {
  return structuredClone(value);
}

/** Delete from `target` what the document's !reset / !override paths name (compose's ResetProcessor.Apply). */
export function applyResets(target: unknown, resetPaths: readonly string[], path: string[] = []): void {
  if (resetPaths.length === 0) return;
  const patterns = resetPaths.map((p) => p.split('.'));
  const visit = (value: unknown, parts: string[]) => {
    if (isDict(value)) {
      for (const k of Object.keys(value)) {
        const next = [...parts, k];
        if (patterns.some((p) => pathMatches(next, p))) {
          delete value[k];
          continue;
        }
        visit(value[k], next);
      }
    } else if (Array.isArray(value)) {
      value.forEach((e, i) => {
        const next = [...parts, `[${i}]`];
        if (!patterns.some((p) => pathMatches(next, p))) visit(e, next);
      });
    }
  };
  visit(target, path);
}

/** Resolve in-file `extends` of every service; `extends.file` is refused before this runs. */
export function applyExtends(model: Dict, resetPaths: readonly string[]): void {
  const services = model.services;
  if (services === undefined) return;
  if (!isDict(services)) throw new MergeError('services', 'services must be a mapping');
  const resolve = (name: string, chain: string[]): unknown => {
    const s = services[name];
    if (s === null || s === undefined) return null;
    if (!isDict(s)) throw new MergeError(`services.${name}`, `services.${name} must be a mapping`);
    if (!('extends' in s)) return s;
    const ext = s.extends;
    let ref: string | undefined;
    if (isDict(ext)) {
      if (typeof ext.service !== 'string') throw new MergeError(`services.${name}.extends`, `extends.${name}.service is required`);
      ref = ext.service;
    } else if (typeof ext === 'string') {
      ref = ext;
    } else {
      throw new MergeError(`services.${name}.extends`, `services.${name}.extends must be a service name or a mapping with "service"`);
    }
    if (!(ref in services)) {
      throw new MergeError(`services.${name}.extends`, `cannot extend service "${name}": service "${ref}" not found`);
    }
    if (chain.includes(name)) {
      throw new MergeError(`services.${name}.extends`, `extends cycle detected: ${[...chain, name].join(' -> ')}`);
    }
    const base = resolve(ref, [...chain, name]);
    if (base === null || base === undefined) return s;
    const source = deepClone(base) as Dict;
    applyResets({ services: { [name]: source } }, resetPaths);
    const merged = mergeYaml(source, s, ['services', 'x']) as Dict;
    delete merged.extends;
    services[name] = merged;
    return merged;
  };
  for (const name of Object.keys(services)) services[name] = resolve(name, []);
}
