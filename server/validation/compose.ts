/**
 * A compose file checked the way `docker compose config` checks it (compose-go's loader), for a
 * one-file project: safe YAML with merge keys, anchors and !reset/!override; interpolation;
 * in-file extends; the Compose Specification's JSON schema; then compose's own rules
 * (compose-model.ts). A version is one file, so what would read other files (extends.file,
 * include, env_file other than the deployment's .env) is refused. No Docker needed.
 */
import { finding, type Finding } from './findings.js';
import { interpolateModel, InterpolationError, MissingRequiredError } from './compose-interpolate.js';
import { applyExtends, applyResets, mergeYaml, MergeError } from './compose-merge.js';
import { checkModel, ModelError } from './compose-model.js';
import { composeSchemaProblems } from './compose-schema.js';
import { parseYamlDocuments, YamlProblem } from './yaml.js';

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The env file the agent writes next to the compose file; the only env_file a version may name. */
export const DEPLOYMENT_ENV_FILES = new Set(['.env', './.env']);

export interface RequiredVariable {
  name: string;
  /** The `${VAR:?message}` message, possibly empty. */
  message: string;
  path: string;
}

export interface ComposeCheckOptions {
  /** The input field findings are reported under. */
  field?: string;
  /** Variables compose interpolates with (a deployment's rendered .env, or a version's template). */
  environment?: Record<string, string>;
  /**
   * 'version': variables the environment does not set are for deployments to set: a missing
   * required one is listed, not an error, and what depends on it is checked with a stand-in.
   * 'deployment': the environment is final, as on the agent.
   */
  mode?: 'version' | 'deployment';
}

export interface ComposeCheck {
  findings: Finding[];
  /** `${VAR:?…}` / `${VAR?…}` the environment leaves unset (version mode). */
  requiredVariables: RequiredVariable[];
  /** Variables used without a default that the environment leaves unset. */
  unsetVariables: string[];
  /** The model after interpolation and extends (null when it could not be built). */
  model: Dict | null;
}

const HINT_SCHEMA = 'See the Compose Specification (compose-spec.io) for the attribute; `docker compose config` reports the same.';

function policyFindings(field: string, doc: Dict): Finding[] {
  const out: Finding[] = [];
  if ('include' in doc) {
    out.push(finding('error', 'compose_outside_file', field, 'include', 'include reads other compose files; a version is one file', 'Inline the included services into this file.'));
  }
  const services = isDict(doc.services) ? doc.services : {};
  for (const [name, raw] of Object.entries(services)) {
    if (!isDict(raw)) continue;
    const ext = raw.extends;
    if (isDict(ext) && ext.file !== undefined) {
      out.push(
        finding('error', 'compose_outside_file', field, `services.${name}.extends.file`, `extends.file ${JSON.stringify(ext.file)} reads another file; a version is one file`, 'Extend a service of this file, or inline the base service.'),
      );
    }
    const envFiles = raw.env_file === undefined ? [] : Array.isArray(raw.env_file) ? raw.env_file : [raw.env_file];
    envFiles.forEach((entry, i) => {
      const p = typeof entry === 'string' ? entry : isDict(entry) ? entry.path : undefined;
      if (typeof p === 'string' && !DEPLOYMENT_ENV_FILES.has(p)) {
        const where = Array.isArray(raw.env_file) ? `services.${name}.env_file[${i}]` : `services.${name}.env_file`;
        out.push(
          finding('error', 'compose_outside_file', field, where, `env_file ${JSON.stringify(p)} is outside the compose file; a version is one file`, 'Put the variables in the version\'s env template (or the deployment\'s env file) and use `env_file: .env` or `environment:`.'),
        );
      }
    });
  }
  return out;
}

/** Paths related to a deferred one (equal, above or below). */
function related(path: string, deferred: readonly string[]): boolean {
  return deferred.some((d) => d === path || d.startsWith(`${path}.`) || d.startsWith(`${path}[`) || path.startsWith(`${d}.`) || path.startsWith(`${d}[`) || path === '');
}

export function checkCompose(text: string, options: ComposeCheckOptions = {}): ComposeCheck {
  const field = options.field ?? 'composeFile';
  const env = options.environment ?? {};
  const mode = options.mode ?? 'deployment';
  const result: ComposeCheck = { findings: [], requiredVariables: [], unsetVariables: [], model: null };
  // Every message names the path it is about (compose's own messages mostly do; ours always).
  const error = (code: string, path: string, message: string, hint: string | null = null) =>
    result.findings.push(finding('error', code, field, path, path !== '' && !message.startsWith(path) ? `${path}: ${message}` : message, hint));

  let docs;
  try {
    docs = parseYamlDocuments(text, { composeTags: true });
  } catch (e) {
    if (e instanceof YamlProblem) {
      error('compose_yaml', e.path, e.path === '' ? e.message : e.message, 'Fix the YAML syntax; anchors, merge keys and !reset/!override are supported.');
      return result;
    }
    throw e;
  }
  let dict: Dict = {};
  const deferred: string[] = [];
  const unset = new Map<string, string>();
  for (const doc of docs) {
    if (doc.value === null || doc.value === undefined) continue;
    if (!isDict(doc.value)) {
      error('compose_yaml', '', 'top-level object must be a mapping');
      return result;
    }
    const policy = policyFindings(field, doc.value);
    if (policy.length > 0) {
      result.findings.push(...policy.map((f) => ({ ...f, message: `${f.path}: ${f.message}` })));
      return result;
    }
    let cfg: Dict;
    // Deployment mode: every missing required variable is named (compose stops at the first).
    const missing: RequiredVariable[] = [];
    try {
      const interpolated = interpolateModel(doc.value, {
        lookup: (name) => env[name],
        onMissingRequired: (name, message, path) => {
          const list = mode === 'version' ? result.requiredVariables : missing;
          if (!list.some((v) => v.name === name)) list.push({ name, message, path });
          return '';
        },
      });
      cfg = interpolated.model;
      deferred.push(...interpolated.report.deferredPaths);
      for (const [name, path] of interpolated.report.unset) if (!unset.has(name)) unset.set(name, path);
    } catch (e) {
      if (e instanceof InterpolationError) {
        const missing = /required variable (\S+) is missing a value/.exec(e.message);
        error(missing ? 'missing_variable' : 'compose_interpolation', e.path, e.message, missing ? `Set ${missing[1]} in the deployment's env file (or the version's env template).` : 'Escape a literal $ as $$; variables are ${NAME}, ${NAME:-default}, ${NAME:?message}.');
        return result;
      }
      throw e;
    }
    if (missing.length > 0) {
      for (const v of missing) {
        error('missing_variable', v.path, `error while interpolating ${v.path}: ${new MissingRequiredError(v.name, v.message).message}`, `Set ${v.name} in the deployment's env file (or the version's env template).`);
      }
      return result;
    }
    try {
      applyExtends(cfg, doc.resetPaths);
      applyResets(dict, doc.resetPaths);
      dict = mergeYaml(dict, cfg, []) as Dict;
    } catch (e) {
      if (e instanceof MergeError) {
        error('compose_extends', e.path, e.message);
        return result;
      }
      throw e;
    }
    const problems = composeSchemaProblems(dict);
    if (problems.length > 0) {
      for (const p of problems) {
        const message = p.path === '' ? p.message : `${p.path}: ${p.message}`;
        if (related(p.path, deferred)) {
          result.findings.push(finding('warning', 'compose_unchecked', field, p.path, `${message} (with the required variables unset; deployments must set them)`));
        } else error('compose_schema', p.path, message, HINT_SCHEMA);
      }
      if (result.findings.some((f) => f.severity === 'error')) return result;
      return result;
    }
    delete dict.version;
  }
  result.unsetVariables = [...unset.keys()];
  if (Object.keys(dict).length === 0) {
    error('compose_empty', '', 'empty compose file', 'A compose file defines at least `services:`.');
    return result;
  }
  result.model = dict;
  try {
    checkModel(dict);
  } catch (e) {
    if (e instanceof ModelError) {
      if (related(e.path, deferred)) {
        result.findings.push(finding('warning', 'compose_unchecked', field, e.path, `${e.message} (with the required variables unset; deployments must set them)`));
      } else error('compose_rule', e.path, e.message);
      return result;
    }
    throw e;
  }
  return result;
}
