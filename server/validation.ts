import { InvalidInputError } from './errors.js';
import { EnvFileError, formatComposeEnvFile, parseEnvFileKeepingSecrets } from './validation/env-file.js';
import type { Finding } from './validation/findings.js';
import { parseSafeYamlMapping, YamlProblem } from './validation/yaml.js';

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

/** Parse YAML that must be a mapping (or empty), safely (validation/yaml.ts); the error names the place. */
export function parseYamlMapping(field: string, text: string): Record<string, unknown> {
  limitDocument(field, text);
  try {
    return parseSafeYamlMapping(text);
  } catch (error) {
    if (error instanceof YamlProblem) throw new InvalidInputError(field, error.path ? `${error.path}: ${error.message}` : error.message);
    throw error;
  }
}

/** Parse a .env file as compose does (validation/env-file.ts), secret references kept for rendering. */
export function parseEnvFile(field: string, text: string): Record<string, string> {
  limitDocument(field, text);
  try {
    return parseEnvFileKeepingSecrets(text);
  } catch (error) {
    if (error instanceof EnvFileError) throw new InvalidInputError(field, error.message);
    throw error;
  }
}

/** Render env entries back to a .env file compose reads to the same values. */
export const formatEnvFile = formatComposeEnvFile;

/** Refuse with the error findings of a check (all of them in the message, the first one's field). */
export function refuseOnErrors(findings: readonly Finding[]): void {
  const errors = findings.filter((f) => f.severity === 'error');
  if (errors.length === 0) return;
  const shown = errors.slice(0, 5).map((f) => f.message);
  const more = errors.length > 5 ? ` (and ${errors.length - 5} more)` : '';
  throw new InvalidInputError(errors[0]!.field, `${shown.join('; ')}${more}`);
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
