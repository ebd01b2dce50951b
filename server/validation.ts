import dotenv from 'dotenv';
import { parseDocument } from 'yaml';
import { InvalidInputError } from './errors.js';

/** Limits on user-supplied text, so one request cannot bloat rows or agent messages. */
export const LIMITS = {
  name: 100,
  /** Compose files, values, env files and templates. */
  documentBytes: 256 * 1024,
} as const;

/** A NUL byte (PostgreSQL text cannot hold one) or a UTF-16 surrogate without its pair (not Unicode text). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Every text input passes this (see schema/text-input-plugin.ts): text PostgreSQL and YAML can hold. */
export function requireStorableText(field: string, value: string): string {
  const bad = UNSTORABLE.exec(value);
  if (bad) {
    const what = bad[0] === '\u0000' ? 'a NUL byte' : 'an unpaired UTF-16 surrogate (not valid Unicode)';
    throw new InvalidInputError(field, `contains ${what} at character ${bad.index + 1}`);
  }
  return value;
}

export function requireName(field: string, value: string): string {
  requireStorableText(field, value);
  const name = value.trim();
  if (name.length === 0) throw new InvalidInputError(field, 'must not be empty');
  if (name.length > LIMITS.name) throw new InvalidInputError(field, `must be at most ${LIMITS.name} characters`);
  return name;
}

export function limitDocument(field: string, text: string): string {
  requireStorableText(field, text);
  if (Buffer.byteLength(text) > LIMITS.documentBytes) {
    throw new InvalidInputError(field, `is larger than ${LIMITS.documentBytes / 1024} KiB`);
  }
  return text;
}

/** Aliases one document may expand: enough for real files, far too few for a "billion laughs" bomb. */
const MAX_YAML_ALIASES = 100;

/** Compose's own merge tags (Compose Specification, "merge and override"); compose reads them, we keep the value. */
const COMPOSE_TAGS = ['!reset', '!override'];

/**
 * Parse YAML that must be a mapping (or empty); the error names the line. Tags other than YAML's
 * own (and `allowedTags`) are refused: helm and compose would read them differently than we do.
 */
export function parseYamlMapping(field: string, text: string, allowedTags: readonly string[] = []): Record<string, unknown> {
  limitDocument(field, text);
  if (text.trim() === '') return {};
  const doc = parseDocument(text, { uniqueKeys: true });
  const unknownTag = (message: string) => !allowedTags.some((tag) => message.startsWith(`Unresolved tag: ${tag} `));
  const problem = doc.errors[0] ?? doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED' && unknownTag(w.message));
  if (problem) {
    const where = problem.linePos?.[0] ? ` (line ${problem.linePos[0].line}, column ${problem.linePos[0].col})` : '';
    const what = problem.code === 'TAG_RESOLVE_FAILED' ? 'uses an unknown YAML tag' : 'is not valid YAML';
    throw new InvalidInputError(field, `${what}${where}: ${problem.message.split('\n')[0]}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    if (err instanceof ReferenceError) throw new InvalidInputError(field, `expands too many YAML aliases (at most ${MAX_YAML_ALIASES})`);
    throw err;
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidInputError(field, 'must be a YAML mapping (key: value)');
  return value as Record<string, unknown>;
}

/** A compose file must be a YAML mapping with a non-empty `services` mapping of mappings. */
export function validateComposeFile(field: string, text: string): void {
  const compose = parseYamlMapping(field, text, COMPOSE_TAGS);
  const services = compose.services;
  if (services === undefined || services === null) throw new InvalidInputError(field, 'is not a compose file: it has no `services`');
  if (typeof services !== 'object' || Array.isArray(services) || Object.keys(services).length === 0) {
    throw new InvalidInputError(field, '`services` must be a mapping with at least one service');
  }
  for (const [name, service] of Object.entries(services)) {
    if (service === null || typeof service !== 'object' || Array.isArray(service)) {
      throw new InvalidInputError(field, `service "${name}" must be a mapping`);
    }
    const s = service as Record<string, unknown>;
    if (s.image === undefined && s.build === undefined) throw new InvalidInputError(field, `service "${name}" has neither image nor build`);
  }
}

const ENV_LINE = /^\s*(export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=/;

/** Parse a .env file; every non-comment line must be KEY=value. */
export function parseEnvFile(field: string, text: string): Record<string, string> {
  limitDocument(field, text);
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (!ENV_LINE.test(line)) throw new InvalidInputError(field, `line ${i + 1} is not KEY=value: ${JSON.stringify(trimmed.slice(0, 60))}`);
  });
  return dotenv.parse(text);
}

/** Render env entries back to a .env file, quoting what needs it. */
export function formatEnvFile(entries: Record<string, string>): string {
  return Object.entries(entries)
    .map(([k, v]) => (/^[A-Za-z0-9_./:@+-]*$/.test(v) ? `${k}=${v}` : `${k}=${JSON.stringify(v)}`))
    .join('\n')
    .concat(Object.keys(entries).length > 0 ? '\n' : '');
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function requireDns1123Label(field: string, value: string, maxLength = 53): string {
  if (value.length > maxLength) throw new InvalidInputError(field, `must be at most ${maxLength} characters`);
  if (!DNS1123_LABEL.test(value)) {
    throw new InvalidInputError(field, `"${value}" is not a DNS-1123 label: lower case letters, digits and '-', starting and ending with a letter or digit`);
  }
  return value;
}

export function requireUrl(field: string, value: string, protocols: string[]): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidInputError(field, `"${value}" is not a URL`);
  }
  if (!protocols.includes(url.protocol)) throw new InvalidInputError(field, `must use ${protocols.join(' or ')} (got ${url.protocol})`);
  return value;
}
