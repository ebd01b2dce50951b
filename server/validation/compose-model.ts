/**
 * What compose checks after the schema (compose-go's transform, validation and loader/validate.go):
 * formats of ports, volumes, durations and sizes; references to services, networks, volumes,
 * secrets and configs that must be defined; depends_on cycles; profiles (a disabled service is
 * not there for the others); the rules between attributes. Errors carry compose's reason and
 * the path in the file.
 */
import { durationError, parseShortVolume, portSpecError, sizeError } from './compose-formats.js';
import { isIP } from 'node:net';

export class ModelError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);
const dict = (v: unknown): Dict => (isDict(v) ? v : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const DURATION_FIELDS = [
  ['healthcheck', 'interval'],
  ['healthcheck', 'timeout'],
  ['healthcheck', 'start_period'],
  ['healthcheck', 'start_interval'],
  ['stop_grace_period'],
  ['deploy', 'update_config', 'delay'],
  ['deploy', 'update_config', 'monitor'],
  ['deploy', 'rollback_config', 'delay'],
  ['deploy', 'rollback_config', 'monitor'],
  ['deploy', 'restart_policy', 'delay'],
  ['deploy', 'restart_policy', 'window'],
];
const SIZE_FIELDS = [
  ['mem_limit'],
  ['mem_reservation'],
  ['memswap_limit'],
  ['shm_size'],
  ['build', 'shm_size'],
  ['deploy', 'resources', 'limits', 'memory'],
  ['deploy', 'resources', 'reservations', 'memory'],
];

function at(root: unknown, parts: string[]): unknown {
  let v = root;
  for (const p of parts) {
    if (!isDict(v)) return undefined;
    v = v[p];
  }
  return v;
}

/** Short-syntax mount entries (`name` or `{source, target}`) → source names. */
function mountSources(value: unknown): string[] {
  return list(value).map((e) => (typeof e === 'string' ? e : String(dict(e).source ?? '')));
}

function serviceNetworks(service: Dict): string[] {
  const n = service.networks;
  if (Array.isArray(n)) return n.map(String);
  return Object.keys(dict(n));
}

function dependsOn(service: Dict): Map<string, { required: boolean }> {
  const out = new Map<string, { required: boolean }>();
  const d = service.depends_on;
  if (Array.isArray(d)) for (const name of d) out.set(String(name), { required: true });
  else for (const [name, cfg] of Object.entries(dict(d))) out.set(name, { required: dict(cfg).required !== false });
  return out;
}

function checkFormats(name: string, service: Dict): void {
  const base = `services.${name}`;
  list(service.ports).forEach((port, i) => {
    if (typeof port === 'string' || typeof port === 'number') {
      const error = portSpecError(String(port));
      if (error) throw new ModelError(`${base}.ports[${i}]`, error);
    } else if (isDict(port) && port.host_ip !== undefined && isIP(String(port.host_ip)) === 0) {
      throw new ModelError(`${base}.ports[${i}]`, `invalid ip address: ${String(port.host_ip)}`);
    }
  });
  list(service.volumes).forEach((volume, i) => {
    if (typeof volume !== 'string') return;
    try {
      parseShortVolume(volume);
    } catch (error) {
      throw new ModelError(`${base}.volumes[${i}]`, (error as Error).message);
    }
  });
  for (const parts of DURATION_FIELDS) {
    const v = at(service, parts);
    if (v === undefined || v === null) continue;
    const error = durationError(v);
    if (error) throw new ModelError(`${base}.${parts.join('.')}`, error);
  }
  for (const parts of SIZE_FIELDS) {
    const v = at(service, parts);
    if (v === undefined || v === null) continue;
    const error = sizeError(v);
    if (error) throw new ModelError(`${base}.${parts.join('.')}`, error);
  }
  // The list form only (compose's MappingWithEquals): `- "FOO =bar"`.
  for (const [where, entries] of [['environment', service.environment], ['build.args', at(service, ['build', 'args'])]] as const) {
    list(entries).forEach((entry, i) => {
      const key = String(entry).split('=')[0]!;
      if (key !== '' && /\s$/u.test(key)) throw new ModelError(`${base}.${where}[${i}]`, `environment variable ${key} is declared with a trailing space`);
    });
  }
  if (typeof service.cpus === 'string' && !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(service.cpus)) {
    throw new ModelError(`${base}.cpus`, `invalid cpus value ${JSON.stringify(service.cpus)}`);
  }
}

/** Top-level resources: external excludes everything but name; secrets/configs need a source. */
function checkResources(model: Dict): void {
  for (const kind of ['volumes', 'networks'] as const) {
    for (const [name, def] of Object.entries(dict(model[kind]))) {
      if (kind === 'volumes' || kind === 'networks') checkExternal(`${kind}.${name}`, def);
    }
  }
  for (const [kind, keys] of [
    ['configs', ['file', 'environment', 'content']],
    ['secrets', ['file', 'environment']],
  ] as const) {
    for (const [name, raw] of Object.entries(dict(model[kind]))) {
      const def = dict(raw);
      const present = keys.filter((k) => k in def);
      if (present.length > 1) throw new ModelError(`${kind}.${name}`, `${keys.join('|')} attributes are mutually exclusive`);
      if (present.length === 0 && !('driver' in def) && !('external' in def)) {
        throw new ModelError(`${kind}.${name}`, `one of ${keys.join('|')} must be set`);
      }
    }
  }
}

function checkExternal(path: string, def: unknown): void {
  if (kindOf(path) === 'volumes' && def !== null && def !== undefined && !isDict(def)) throw new ModelError(path, `expected volume, got ${String(def)}`);
  const d = dict(def);
  if (d.external !== true) return;
  for (const k of Object.keys(d)) {
    if (k === 'name' || k === 'external' || k.startsWith('x-')) continue;
    // compose-go checks volumes only; networks take the same rule at normalisation.
    if (kindOf(path) === 'volumes') throw new ModelError(path, `conflicting parameters "external" and "${k}" specified`);
  }
}

const kindOf = (path: string) => path.split('.')[0];

/** Services left once profiles apply (none active: services with `profiles` are disabled). */
export function enabledServices(model: Dict, activeProfiles: readonly string[] = []): { enabled: Map<string, Dict>; disabled: Set<string> } {
  const enabled = new Map<string, Dict>();
  const disabled = new Set<string>();
  for (const [name, raw] of Object.entries(dict(model.services))) {
    const s = dict(raw);
    const profiles = list(s.profiles).map(String);
    if (profiles.length === 0 || profiles.includes('*') || profiles.some((p) => activeProfiles.includes(p))) enabled.set(name, s);
    else disabled.add(name);
  }
  return { enabled, disabled };
}

export function checkModel(model: Dict): void {
  const services = dict(model.services);
  for (const [name, raw] of Object.entries(services)) if (isDict(raw)) checkFormats(name, raw);
  checkResources(model);
  const { enabled, disabled } = enabledServices(model);
  const networks = dict(model.networks);
  const volumes = dict(model.volumes);
  const secrets = dict(model.secrets);
  const configs = dict(model.configs);
  const models = dict(model.models);
  const containerNames = new Map<string, string>();
  for (const [name, s] of enabled) {
    const base = `services.${name}`;
    if (s.build === undefined && (s.image === undefined || s.image === '') && s.provider === undefined) {
      throw new ModelError(base, `service "${name}" has neither an image nor a build context specified`);
    }
    const build = isDict(s.build) ? s.build : null;
    if (build && build.dockerfile_inline !== undefined && build.dockerfile !== undefined) {
      throw new ModelError(`${base}.build`, `service "${name}" declares mutually exclusive dockerfile and dockerfile_inline`);
    }
    if (build) {
      for (const [ctx, value] of Object.entries(additionalContexts(build.additional_contexts))) {
        if (!value.startsWith('service:')) continue;
        const target = value.slice('service:'.length);
        const t = enabled.get(target);
        if (!t) throw new ModelError(`${base}.build.additional_contexts`, `service "${name}" declares unknown service "${target}" as additional contexts ${ctx}`);
        if (t.build === undefined) throw new ModelError(`${base}.build.additional_contexts`, `service "${name}" declares non-buildable service "${target}" as additional contexts ${ctx}`);
      }
      const platforms = list(build.platforms).map(String);
      if (platforms.length > 0 && typeof s.platform === 'string' && s.platform !== '' && !platforms.includes(s.platform)) {
        throw new ModelError(`${base}.platform`, `service.build.platforms MUST include service.platform "${s.platform}"`);
      }
    }
    const nets = serviceNetworks(s);
    if (typeof s.network_mode === 'string' && s.network_mode !== '' && nets.length > 0) {
      throw new ModelError(`${base}.network_mode`, `service ${name} declares mutually exclusive \`network_mode\` and \`networks\``);
    }
    for (const net of nets) {
      if (!(net in networks) && net !== 'default') throw new ModelError(`${base}.networks`, `service "${name}" refers to undefined network ${net}`);
    }
    const test = at(s, ['healthcheck', 'test']);
    if (Array.isArray(test) && test.length > 0 && !['CMD', 'CMD-SHELL', 'NONE'].includes(String(test[0]))) {
      throw new ModelError(`${base}.healthcheck.test`, 'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"');
    }
    for (const [dep, cfg] of dependsOn(s)) {
      if (enabled.has(dep)) continue;
      if (disabled.has(dep) && !cfg.required) continue;
      throw new ModelError(`${base}.depends_on`, `service "${name}" depends on undefined service "${dep}"${disabled.has(dep) ? ' (it is only in a profile; deployments start no profile)' : ''}`);
    }
    if (typeof s.network_mode === 'string' && s.network_mode.startsWith('service:')) {
      const target = s.network_mode.slice('service:'.length);
      if (!(target in services)) throw new ModelError(`${base}.network_mode`, `service "${target}" not found for network_mode 'service:${target}'`);
    }
    list(s.volumes).forEach((v, i) => {
      let source = '';
      let type = 'volume';
      if (typeof v === 'string') ({ source, type } = parseShortVolume(v));
      else if (isDict(v)) {
        source = String(v.source ?? '');
        type = String(v.type ?? 'volume');
      }
      if (type === 'volume' && source !== '' && !(source in volumes)) {
        throw new ModelError(`${base}.volumes[${i}]`, `service "${name}" refers to undefined volume ${source}`);
      }
    });
    if (build) {
      for (const src of mountSources(build.secrets)) {
        if (!(src in secrets)) throw new ModelError(`${base}.build.secrets`, `service "${name}" refers to undefined build secret ${src}`);
      }
    }
    for (const src of mountSources(s.configs)) if (!(src in configs)) throw new ModelError(`${base}.configs`, `service "${name}" refers to undefined config ${src}`);
    const svcModels = Array.isArray(s.models) ? s.models.map(String) : Object.keys(dict(s.models));
    for (const m of svcModels) if (!(m in models)) throw new ModelError(`${base}.models`, `service "${name}" refers to undefined model ${m}`);
    for (const src of mountSources(s.secrets)) if (!(src in secrets)) throw new ModelError(`${base}.secrets`, `service "${name}" refers to undefined secret ${src}`);
    const replicas = at(s, ['deploy', 'replicas']);
    if (typeof s.scale === 'number' && typeof replicas === 'number' && s.scale !== replicas) {
      throw new ModelError(base, `can't set distinct values on 'scale' and 'deploy.replicas'`);
    }
    if (typeof s.scale === 'number' && s.scale < 0) throw new ModelError(`${base}.scale`, 'must be greater than or equal to 0');
    if (typeof replicas === 'number' && replicas < 0) throw new ModelError(`${base}.deploy.replicas`, 'must be greater than or equal to 0');
    const scale = typeof s.scale === 'number' ? s.scale : typeof replicas === 'number' ? replicas : 1;
    if (scale > 1 && typeof s.container_name === 'string' && s.container_name !== '') {
      throw new ModelError(`${base}.container_name`, `can't set container_name and ${typeof s.scale === 'number' ? 'scale' : 'deploy.replicas'} as container name must be unique`);
    }
    if (typeof s.container_name === 'string' && s.container_name !== '') {
      const other = containerNames.get(s.container_name);
      if (other) throw new ModelError(`${base}.container_name`, `container name "${s.container_name}" is already in use by service ${other}`);
      containerNames.set(s.container_name, name);
    }
    const mounts = new Map<string, string>();
    list(s.tmpfs === undefined ? [] : typeof s.tmpfs === 'string' ? [s.tmpfs] : s.tmpfs).forEach((t, i) => {
      const target = String(t).split(':')[0]!;
      const loc = `${base}.tmpfs[${i}]`;
      if (mounts.has(target)) throw new ModelError(loc, `target ${target} already mounted as ${mounts.get(target)}`);
      mounts.set(target, loc);
    });
    list(s.volumes).forEach((v, i) => {
      const target = typeof v === 'string' ? parseShortVolume(v).target : String(dict(v).target ?? '');
      const loc = `${base}.volumes[${i}]`;
      if (mounts.has(target)) throw new ModelError(loc, `target ${target} already mounted as ${mounts.get(target)}`);
      mounts.set(target, loc);
    });
  }
  for (const [name, raw] of Object.entries(secrets)) {
    const def = dict(raw);
    if (def.external === true) continue;
    if (!def.file && !def.environment) throw new ModelError(`secrets.${name}`, `secret "${name}" must declare either \`file\` or \`environment\``);
  }
  checkCycles(enabled);
}

function additionalContexts(value: unknown): Record<string, string> {
  if (isDict(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
  const out: Record<string, string> = {};
  for (const e of list(value)) {
    const [k, ...rest] = String(e).split('=');
    out[k!] = rest.join('=');
  }
  return out;
}

function checkCycles(services: Map<string, Dict>): void {
  const names = [...services.keys()].sort();
  const edges = new Map(names.map((n) => [n, [...dependsOn(services.get(n)!).keys()].filter((d) => services.has(d)).sort()]));
  const clean = new Set<string>();
  const search = (path: string[]): void => {
    const last = path[path.length - 1]!;
    if (clean.has(last)) return;
    for (const child of edges.get(last) ?? []) {
      const i = path.indexOf(child);
      if (i >= 0) {
        throw new ModelError(`services.${path[path.length - 1]}.depends_on`, `dependency cycle detected: ${path.slice(i).join(' -> ')} -> ${child}`);
      }
      search([...path, child]);
    }
    clean.add(last);
  };
  for (const n of names) search([n]);
}
