/**
 * The one template syntax for secrets: `${{ secrets.NAME }}` inside env templates, env files,
 * base values and values. Rendered by mustache (logic-less: no code, no helpers) with the
 * delimiters `${{ }}`, so `${VAR}` (compose) and `{{ .Values.x }}` (helm tpl values) stay
 * untouched. Only plain `secrets.NAME` tags are allowed: sections, partials and other names are
 * refused when a version or revision is written. Values are substituted into parsed entries
 * (env values, YAML strings), never into YAML or .env text, so no value can change structure.
 */
import Mustache from 'mustache';
import { InvalidInputError } from '../errors.js';

const TAGS: [string, string] = ['${{', '}}'];
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
const REFERENCE = /^secrets\.([A-Za-z_][A-Za-z0-9_]{0,99})$/;
// Rendered strings are mostly one-offs (env values): no global cache of parsed templates.
(Mustache as unknown as { templateCache: undefined }).templateCache = undefined;

export function requireSecretName(field: string, name: string): string {
  if (!SECRET_NAME.test(name)) throw new InvalidInputError(field, `"${name}" is not a secret name: letters, digits and '_', not starting with a digit, at most 100`);
  return name;
}

/** How a reference is written (and shown wherever the value must not be). */
export const secretReference = (name: string) => `\${{ secrets.${name} }}`;

/** Names referenced by one string; throws InvalidInputError for anything but `${{ secrets.NAME }}`. */
export function referencesIn(field: string, text: string): string[] {
  if (!text.includes(TAGS[0])) return [];
  let tokens: unknown[][];
  try {
    tokens = Mustache.parse(text, TAGS) as unknown[][];
  } catch (error) {
    throw new InvalidInputError(field, `has a malformed secret reference: ${(error as Error).message}; write ${secretReference('NAME')}`);
  }
  const names: string[] = [];
  for (const [type, value] of tokens as [string, string][]) {
    if (type === 'text') continue;
    const m = (type === 'name' || type === '&') && REFERENCE.exec(value.trim());
    if (!m) throw new InvalidInputError(field, `only ${secretReference('NAME')} references are allowed, found "${TAGS[0]} ${type === 'name' ? '' : type}${value} ${TAGS[1]}"`);
    names.push(m[1]!);
  }
  return names;
}

/** Every secret name referenced in any string of a parsed document (env entries, YAML). */
export function referencesInValue(field: string, value: unknown, into = new Set<string>()): Set<string> {
  if (typeof value === 'string') for (const name of referencesIn(field, value)) into.add(name);
  else if (Array.isArray(value)) for (const item of value) referencesInValue(field, item, into);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) referencesInValue(field, item, into);
  return into;
}

export class MissingSecretError extends Error {
  constructor(readonly secretName: string) {
    super(`secret "${secretName}" is not defined`);
  }
}

/** Render one string; every referenced secret must be in `values`. */
export function renderString(text: string, values: ReadonlyMap<string, string>): string {
  const names = referencesIn('template', text);
  if (names.length === 0) return text;
  const view: Record<string, string> = {};
  for (const name of names) {
    const value = values.get(name);
    if (value === undefined) throw new MissingSecretError(name);
    view[name] = value;
  }
  return Mustache.render(text, { secrets: view }, {}, { tags: TAGS, escape: (s: string) => s });
}

/** Render every string inside a parsed document (objects and arrays are copied). */
export function renderValue<T>(value: T, values: ReadonlyMap<string, string>): T {
  if (typeof value === 'string') return renderString(value, values) as T;
  if (Array.isArray(value)) return value.map((v) => renderValue(v, values)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderValue(v, values)])) as T;
  }
  return value;
}
