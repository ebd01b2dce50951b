/**
 * Target labels and label selectors, with the syntax and rules of Kubernetes labels:
 * keys `[prefix/]name` (prefix a DNS subdomain of at most 253 characters, name at most 63
 * alphanumerics with `-_.` inside), values empty or at most 63 of the same; selectors a comma
 * separated list of requirements: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
 */
import { InvalidInputError } from '../errors.js';

export type Labels = Record<string, string>;

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** More labels than this on one target is a mistake, not a use. */
export const MAX_LABELS = 64;

/** Why a label key is invalid, or null. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== null && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `label key "${key}": the prefix must be a DNS subdomain (lower case, at most 253 characters)`;
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    return `label key "${key}": the name must be 1 to 63 characters, alphanumeric with '-', '_' or '.' inside`;
  }
  return null;
}

export function labelValueProblem(key: string, value: string): string | null {
  if (value.length > 63 || (value !== '' && !NAME.test(value))) {
    return `label "${key}": the value "${value}" must be empty or at most 63 characters, alphanumeric with '-', '_' or '.' inside`;
  }
  return null;
}

/** Validate a whole label set (as given by the API: a list of key/value pairs). */
export function validateLabels(field: string, entries: readonly { key: string; value: string }[]): Labels {
  if (entries.length > MAX_LABELS) throw new InvalidInputError(field, `at most ${MAX_LABELS} labels per target`);
  const labels: Labels = {};
  for (const { key, value } of entries) {
    const problem = labelKeyProblem(key) ?? labelValueProblem(key, value);
    if (problem) throw new InvalidInputError(field, problem);
    if (key in labels) throw new InvalidInputError(field, `label key "${key}" is given twice`);
    labels[key] = value;
  }
  return labels;
}

export type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

/** A parsed selector: every requirement must hold (an empty selector matches everything). */
export interface Selector {
  source: string;
  requirements: Requirement[];
}

/** Parse a selector; the error names the position and what was expected. */
export function parseSelector(field: string, source: string): Selector {
  const text = source.trim();
  if (text.length > 4096) throw new InvalidInputError(field, 'a selector is at most 4096 characters');
  const requirements: Requirement[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new InvalidInputError(field, `selector "${text}" at position ${i + 1}: ${what}`);
  };
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const word = (): string => {
    skipSpace();
    const start = i;
    while (i < text.length && !/[\s,()=!]/.test(text[i]!)) i++;
    return text.slice(start, i);
  };
  const checkKey = (key: string) => {
    if (!key) fail('expected a label key');
    const problem = labelKeyProblem(key);
    if (problem) fail(problem);
  };
  const checkValue = (key: string, value: string) => {
    const problem = labelValueProblem(key, value);
    if (problem) fail(problem);
  };
  if (text === '') return { source: '', requirements };
  for (;;) {
    skipSpace();
    if (text[i] === '!') {
      i++;
      const key = word();
      checkKey(key);
      requirements.push({ key, op: 'notexists' });
    } else {
      const key = word();
      checkKey(key);
      skipSpace();
      if (text.startsWith('==', i) || text[i] === '=' || text.startsWith('!=', i)) {
        const negated = text[i] === '!';
        i += text.startsWith('==', i) || negated ? 2 : 1;
        const value = word();
        checkValue(key, value);
        requirements.push({ key, op: negated ? 'notin' : 'in', values: [value] });
      } else if (/^(in|notin)\s*\(/.test(text.slice(i))) {
        const op = text.startsWith('notin', i) ? 'notin' : 'in';
        i += op.length;
        skipSpace();
        i++; // '('
        const values: string[] = [];
        for (;;) {
          const value = word();
          checkValue(key, value);
          values.push(value);
          skipSpace();
          if (text[i] === ',') {
            i++;
            continue;
          }
          if (text[i] === ')') {
            i++;
            break;
          }
          fail("expected ',' or ')' in a value list");
        }
        requirements.push({ key, op, values });
      } else {
        requirements.push({ key, op: 'exists' });
      }
    }
    skipSpace();
    if (i >= text.length) break;
    if (text[i] !== ',') fail("expected ',' between requirements (or '=', '!=', 'in (…)', 'notin (…)')");
    i++;
  }
  return { source: text, requirements };
}

/** Kubernetes semantics: `!=` and `notin` also match targets without the key. */
export function matchesSelector(selector: Selector, labels: Labels): boolean {
  return selector.requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      case 'in':
        return has && r.values.includes(labels[r.key]!);
      case 'notin':
        return !has || !r.values.includes(labels[r.key]!);
    }
  });
}
