/**
 * Helm values: parsed safely (yaml.ts: no alias bombs, no unknown tags), merged as helm merges
 * user values (maps deep-merged, anything else replaced, `null` removes the key — kept as null
 * in user values so helm also drops the chart's default), and checked against a chart's
 * values.schema.json the way helm does (chart defaults coalesced with the user values first).
 */
import { Ajv, type ErrorObject } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { finding, type Finding } from './findings.js';
import { parseSafeYamlMapping, YamlProblem } from './yaml.js';

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Parse values YAML; an error finding (with the line or path) instead of a throw. */
export function parseValues(field: string, text: string | null | undefined): { values: Dict; findings: Finding[] } {
  try {
    return { values: parseSafeYamlMapping(text ?? ''), findings: [] };
  } catch (error) {
    if (error instanceof YamlProblem) {
      const message = error.path ? `${error.path}: ${error.message}` : error.message;
      return { values: {}, findings: [finding('error', 'values_yaml', field, error.path, message, 'Values are a YAML mapping; anchors work, custom tags do not.')] };
    }
    throw error;
  }
}

/** User values layered the way `helm -f a.yaml -f b.yaml` layers them (b wins; null deletes). */
export function mergeUserValues(base: Dict, override: Dict): Dict {
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (isDict(v) && isDict(out[k])) out[k] = mergeUserValues(out[k] as Dict, v);
    else out[k] = v;
  }
  return out;
}

/** Helm's coalesce of user values over chart defaults: the values templates finally see. */
export function coalesceValues(chartDefaults: Dict, user: Dict): Dict {
  const out: Dict = {};
  for (const [k, v] of Object.entries(chartDefaults)) out[k] = v;
  for (const [k, v] of Object.entries(user)) {
    if (v === null) {
      delete out[k];
      continue;
    }
    if (isDict(v) && isDict(out[k])) out[k] = coalesceValues(out[k] as Dict, v);
    else out[k] = v;
  }
  // Nulls inside chart defaults stay out as well.
  for (const [k, v] of Object.entries(out)) if (v === null) delete out[k];
  return out;
}

function toPath(instancePath: string): string {
  let out = '';
  for (const part of instancePath.split('/').slice(1)) out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

function ajvFor(schema: Dict) {
  const dialect = String(schema.$schema ?? '');
  const options = { strict: false, allErrors: true, validateSchema: false, validateFormats: false } as const;
  if (dialect.includes('2020-12')) return new Ajv2020(options);
  if (dialect.includes('2019-09')) return new Ajv2019(options);
  return new Ajv(options);
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return `additional property "${String(e.params.additionalProperty)}" is not allowed`;
  if (e.keyword === 'required') return `"${String(e.params.missingProperty)}" is required`;
  return e.message ?? e.keyword;
}

/** Check values against a chart's values.schema.json; error findings, [] when they conform. */
export function checkValuesSchema(field: string, schema: Dict, values: Dict, chartLabel: string): Finding[] {
  let validate;
  try {
    const copy = { ...schema };
    delete copy.$id;
    validate = ajvFor(copy).compile(copy);
  } catch (error) {
    return [finding('warning', 'values_schema_unusable', field, '', `the values.schema.json of ${chartLabel} cannot be compiled: ${(error as Error).message}`)];
  }
  if (validate(values)) return [];
  const seen = new Set<string>();
  const out: Finding[] = [];
  for (const e of validate.errors ?? []) {
    if (['anyOf', 'oneOf', 'if', 'allOf'].includes(e.keyword)) continue;
    const path = toPath(e.instancePath);
    const message = `${path || '(values)'}: ${describe(e)}`;
    if (seen.has(message)) continue;
    seen.add(message);
    out.push(finding('error', 'values_schema', field, path, `${message} (values.schema.json of ${chartLabel})`, 'Change the values so they satisfy the chart\'s values.schema.json.'));
    if (out.length >= 10) break;
  }
  if (out.length === 0) out.push(finding('error', 'values_schema', field, '', `the values do not satisfy the values.schema.json of ${chartLabel}`));
  return out;
}
