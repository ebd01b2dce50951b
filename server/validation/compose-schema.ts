/**
 * The Compose Specification's own JSON schema, as shipped by the `dclint` package (which tracks
 * compose-spec's compose-spec.json), compiled once with ajv. Errors are reduced to the most
 * specific one per path, worded the way compose words them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

let compiled: ValidateFunction | null = null;

/** Where the schema file is (for docs and the freshness test). */
export function composeSchemaPath(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json');
}

function validator(): ValidateFunction {
  if (compiled) return compiled;
  const schema = JSON.parse(readFileSync(composeSchemaPath(), 'utf8')) as Record<string, unknown>;
  delete schema.$schema;
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  compiled = ajv.compile(schema);
  return compiled;
}

export interface SchemaProblem {
  path: string;
  message: string;
}

function toPath(instancePath: string): string {
  let out = '';
  for (const raw of instancePath.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

const TYPE_NAMES: Record<string, string> = { object: 'mapping', array: 'list', null: 'null' };

function describe(errors: ErrorObject[]): string {
  const types = new Set<string>();
  const others: string[] = [];
  for (const e of errors) {
    if (e.keyword === 'type') {
      const want = e.params.type as string | string[];
      for (const t of Array.isArray(want) ? want : [want]) types.add(TYPE_NAMES[t] ?? t);
    } else if (e.keyword === 'additionalProperties') {
      others.push(`additional property ${String(e.params.additionalProperty)} is not allowed`);
    } else if (e.keyword === 'required') {
      others.push(`${String(e.params.missingProperty)} is required`);
    } else if (e.keyword === 'enum') {
      others.push(`must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`);
    } else if (e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if' && e.keyword !== 'not') {
      others.push(e.message ?? e.keyword);
    }
  }
  const parts = [...new Set(others)];
  if (types.size > 0) parts.unshift(`must be a ${[...types].sort().join(' or ')}`);
  if (parts.length === 0) return errors[0]?.keyword === 'not' ? 'is not allowed here' : 'does not match any allowed form';
  return parts.join('; ');
}

/** Validate a compose model; [] when it conforms. */
export function composeSchemaProblems(model: unknown, max = 5): SchemaProblem[] {
  const validate = validator();
  if (validate(model)) return [];
  const errors = validate.errors ?? [];
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    const key = e.keyword === 'additionalProperties' ? `${e.instancePath}/${String(e.params.additionalProperty)}` : e.instancePath;
    const group = byPath.get(key) ?? [];
    group.push(e);
    byPath.set(key, group);
  }
  // Keep the most specific paths: drop a path when a deeper one below it also failed.
  const paths = [...byPath.keys()];
  const specific = paths.filter((p) => !paths.some((q) => q !== p && q.startsWith(`${p}/`)));
  const problems = specific.map((p) => {
    const group = byPath.get(p)!;
    const extra = group.find((e) => e.keyword === 'additionalProperties');
    return { path: toPath(p), message: extra ? `additional property ${String(extra.params.additionalProperty)} is not allowed` : describe(group) };
  });
  problems.sort((a, b) => a.path.localeCompare(b.path));
  return problems.slice(0, max);
}
