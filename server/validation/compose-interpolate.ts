/**
 * Compose's variable interpolation, as compose-go's template and interpolation packages do it:
 * `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`,
 * `${VAR:+alt}`, `${VAR+alt}`, `$$` for a literal `$`, nested defaults; then the values at typed
 * paths (ports' targets, replicas, booleans…) cast to numbers and booleans the way compose casts.
 */
export class InvalidTemplateError extends Error {
  constructor(readonly template: string) {
    super(`invalid interpolation format: ${JSON.stringify(template)}; you may need to escape any $ with another $`);
  }
}

export class MissingRequiredError extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(reason ? `required variable ${variable} is missing a value: ${reason}` : `required variable ${variable} is missing a value`);
  }
}

export interface Lookup {
  (name: string): string | undefined;
}

/**
 * What to do when a required variable is missing: throw (the default, as compose does) or, at
 * version time when deployments will supply it, return a stand-in value.
 */
export type OnMissingRequired = (variable: string, reason: string) => string;

const PATTERN = /\$(?:(\$)|([_a-zA-Z][_a-zA-Z0-9]*)|\{(?:([_a-zA-Z][_a-zA-Z0-9]*(?::?[-+?](.*))?)\}|()))/g;

type SubstituteFn = (substitution: string, lookup: Lookup, ctx: Ctx) => { value: string; applied: boolean };
interface Ctx {
  onMissingRequired?: OnMissingRequired;
  /** Variables read and unset (compose warns and uses ""). */
  unset: Set<string>;
}

function partition(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + sep.length)];
}

function withDefaultWhenAbsence(sep: string, emptyOrUnset: boolean): SubstituteFn {
  return (substitution, lookup, ctx) => {
    if (!substitution.includes(sep)) return { value: '', applied: false };
    const [name, rawDefault] = partition(substitution, sep);
    const defaultValue = substituteWith(rawDefault, lookup, ctx);
    const value = lookup(name);
    if (value === undefined || (emptyOrUnset && value === '')) return { value: defaultValue, applied: true };
    return { value, applied: true };
  };
}

function withDefaultWhenPresence(sep: string, notEmpty: boolean): SubstituteFn {
  return (substitution, lookup, ctx) => {
    if (!substitution.includes(sep)) return { value: '', applied: false };
    const [name, rawDefault] = partition(substitution, sep);
    const defaultValue = substituteWith(rawDefault, lookup, ctx);
    const value = lookup(name);
    if (value !== undefined && (!notEmpty || value !== '')) return { value: defaultValue, applied: true };
    return { value: value ?? '', applied: true };
  };
}

function withRequired(sep: string, valid: (v: string) => boolean): SubstituteFn {
  return (substitution, lookup, ctx) => {
    if (!substitution.includes(sep)) return { value: '', applied: false };
    const [name, rawMessage] = partition(substitution, sep);
    const message = substituteWith(rawMessage, lookup, ctx);
    const value = lookup(name);
    if (value === undefined || !valid(value)) {
      if (ctx.onMissingRequired) return { value: ctx.onMissingRequired(name, message), applied: true };
      throw new MissingRequiredError(name, message);
    }
    return { value, applied: true };
  };
}

const OPERATORS: [string, SubstituteFn][] = [
  [':?', withRequired(':?', (v) => v !== '')],
  ['?', withRequired('?', () => true)],
  [':-', withDefaultWhenAbsence(':-', true)],
  ['-', withDefaultWhenAbsence('-', false)],
  [':+', withDefaultWhenPresence(':+', true)],
  ['+', withDefaultWhenPresence('+', false)],
];

/** The operator that appears first in the template (compose's getSubstitutionFunctionForTemplate). */
function operatorFor(template: string): SubstituteFn {
  const ranked = OPERATORS.map(([op, fn], order) => ({ index: template.indexOf(op), order, fn }));
  ranked.sort((a, b) => {
    if (a.index < 0 && b.index < 0) return a.order - b.order;
    if (a.index < 0) return 1;
    if (b.index < 0) return -1;
    return a.index - b.index || a.order - b.order;
  });
  return ranked[0]!.fn;
}

function firstBraceClosingIndex(s: string): number {
  let open = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '}') {
      open--;
      if (open === 0) return i;
    }
    if (s[i] === '{') {
      open++;
      i++;
    }
  }
  return -1;
}

function replacement(matched: string, lookup: Lookup, ctx: Ctx, whole: string): string {
  const operator = operatorFor(matched);
  let substring = matched;
  let rest = '';
  const closing = firstBraceClosingIndex(substring);
  if (closing > -1) {
    rest = substring.slice(closing + 1);
    substring = substring.slice(0, closing + 1);
  }
  PATTERN.lastIndex = 0;
  const m = new RegExp(PATTERN.source).exec(substring);
  if (m?.[1]) return '$';
  let braced = false;
  let substitution = m?.[2];
  if (!substitution) {
    substitution = m?.[3];
    braced = true;
  }
  if (!substitution) throw new InvalidTemplateError(whole);
  if (braced) {
    const { value, applied } = operator(substitution, lookup, ctx);
    if (applied) return value + substituteWith(rest, lookup, ctx);
  }
  const value = lookup(substitution);
  if (value === undefined) ctx.unset.add(substitution);
  return value ?? '';
}

function substituteWith(template: string, lookup: Lookup, ctx: Ctx): string {
  return template.replace(new RegExp(PATTERN.source, 'g'), (matched) => replacement(matched, lookup, ctx, template));
}

export interface SubstituteResult {
  value: string;
  unset: Set<string>;
}

/** Substitute variables in one string. Throws InvalidTemplateError / MissingRequiredError. */
export function substitute(template: string, lookup: Lookup, onMissingRequired?: OnMissingRequired): SubstituteResult {
  const ctx: Ctx = { onMissingRequired, unset: new Set() };
  return { value: substituteWith(template, lookup, ctx), unset: ctx.unset };
}

// --- casts at typed paths -----------------------------------------------------------------------

type Cast = (value: string) => unknown;

class CastError extends Error {}

const INT = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)$/i;

const toInt: Cast = (v) => {
  if (!INT.test(v)) throw new CastError(`invalid integer: ${JSON.stringify(v)}`);
  return Number.parseInt(v, 10);
};
const toFloat: Cast = (v) => {
  if (!FLOAT.test(v)) throw new CastError(`invalid number: ${JSON.stringify(v)}`);
  const lower = v.toLowerCase().replace(/^\+/, '');
  if (lower.endsWith('inf') || lower.endsWith('infinity')) return lower.startsWith('-') ? -Infinity : Infinity;
  return Number(v);
};
const toBoolean: Cast = (v) => {
  switch (v.toLowerCase()) {
    case 'true':
    case 'y':
    case 'yes':
    case 'on':
      return true;
    case 'false':
    case 'n':
    case 'no':
    case 'off':
      return false;
    default:
      throw new CastError(`invalid boolean: ${v}`);
  }
};

const S = 'services.*';
const CASTS: [string[], Cast][] = (
  [
    [`${S}.cpu_count`, toInt],
    [`${S}.cpu_percent`, toFloat],
    [`${S}.cpu_period`, toInt],
    [`${S}.cpu_quota`, toInt],
    [`${S}.cpu_rt_period`, toInt],
    [`${S}.cpu_rt_runtime`, toInt],
    [`${S}.cpus`, toFloat],
    [`${S}.cpu_shares`, toInt],
    [`${S}.init`, toBoolean],
    [`${S}.deploy.replicas`, toInt],
    [`${S}.deploy.update_config.parallelism`, toInt],
    [`${S}.deploy.update_config.max_failure_ratio`, toFloat],
    [`${S}.deploy.rollback_config.parallelism`, toInt],
    [`${S}.deploy.rollback_config.max_failure_ratio`, toFloat],
    [`${S}.deploy.restart_policy.max_attempts`, toInt],
    [`${S}.deploy.placement.max_replicas_per_node`, toInt],
    [`${S}.healthcheck.retries`, toInt],
    [`${S}.healthcheck.disable`, toBoolean],
    [`${S}.oom_kill_disable`, toBoolean],
    [`${S}.oom_score_adj`, toInt],
    [`${S}.pids_limit`, toInt],
    [`${S}.ports.[].target`, toInt],
    [`${S}.privileged`, toBoolean],
    [`${S}.read_only`, toBoolean],
    [`${S}.scale`, toInt],
    [`${S}.stdin_open`, toBoolean],
    [`${S}.tty`, toBoolean],
    [`${S}.ulimits.*`, toInt],
    [`${S}.ulimits.*.hard`, toInt],
    [`${S}.ulimits.*.soft`, toInt],
    [`${S}.volumes.[].read_only`, toBoolean],
    [`${S}.volumes.[].volume.nocopy`, toBoolean],
    ['networks.*.external', toBoolean],
    ['networks.*.internal', toBoolean],
    ['networks.*.attachable', toBoolean],
    ['networks.*.enable_ipv4', toBoolean],
    ['networks.*.enable_ipv6', toBoolean],
    ['volumes.*.external', toBoolean],
    ['secrets.*.external', toBoolean],
    ['configs.*.external', toBoolean],
  ] as [string, Cast][]
).map(([p, c]) => [p.split('.'), c]);

/** compose-go's tree.Path matching: `*` matches any one part (a list marker included). */
export function pathMatches(parts: readonly string[], pattern: readonly string[]): boolean {
  if (parts.length !== pattern.length) return false;
  for (let i = 0; i < parts.length; i++) {
    if (pattern[i] === '*') continue;
    if (pattern[i] !== parts[i]) return false;
  }
  return true;
}

export class InterpolationError extends Error {
  constructor(
    readonly path: string,
    message: string,
    readonly cause?: unknown,
  ) {
    super(message);
  }
}

export interface InterpolateOptions {
  lookup: Lookup;
  /** Called for each missing required variable with the path of the value using it; returns a stand-in. */
  onMissingRequired?: (variable: string, reason: string, path: string) => string;
}

export interface InterpolateReport {
  /** Variables read that are unset, with the first path using each. */
  unset: Map<string, string>;
  /** Paths whose value depends on a stand-in for a missing required variable. */
  deferredPaths: string[];
}

/** Interpolate every string value of a compose model (keys are not interpolated). */
export function interpolateModel(model: Record<string, unknown>, options: InterpolateOptions): { model: Record<string, unknown>; report: InterpolateReport } {
  const report: InterpolateReport = { unset: new Map(), deferredPaths: [] };
  const visit = (value: unknown, parts: string[], display: string): unknown => {
    if (typeof value === 'string') {
      let deferred = false;
      const onMissing: OnMissingRequired | undefined = options.onMissingRequired
        ? (variable, reason) => {
            deferred = true;
            return options.onMissingRequired!(variable, reason, display);
          }
        : undefined;
      let substituted: SubstituteResult;
      try {
        substituted = substitute(value, options.lookup, onMissing);
      } catch (error) {
        if (error instanceof InvalidTemplateError) {
          throw new InterpolationError(display, `invalid interpolation format for ${display}: ${JSON.stringify(value)}; you may need to escape any $ with another $`, error);
        }
        if (error instanceof MissingRequiredError) throw new InterpolationError(display, `error while interpolating ${display}: ${error.message}`, error);
        throw error;
      }
      for (const name of substituted.unset) if (!report.unset.has(name)) report.unset.set(name, display);
      if (deferred) report.deferredPaths.push(display);
      const cast = CASTS.find(([pattern]) => pathMatches(parts, pattern));
      if (!cast) return substituted.value;
      if (deferred) {
        // A stand-in cannot be cast meaningfully; keep a value of the right type.
        try {
          return cast[1](substituted.value);
        } catch {
          return cast[1] === toBoolean ? true : 1;
        }
      }
      try {
        return cast[1](substituted.value);
      } catch (error) {
        throw new InterpolationError(display, `error while interpolating ${display}: failed to cast to expected type: ${(error as Error).message}`);
      }
    }
    if (Array.isArray(value)) return value.map((v, i) => visit(v, [...parts, '[]'], `${display}[${i}]`));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = visit(v, [...parts, k], display === '' ? k : `${display}.${k}`);
      return out;
    }
    return value;
  };
  return { model: visit(model, [], '') as Record<string, unknown>, report };
}
