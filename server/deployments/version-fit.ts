/**
 * Moving deployments to another version keeps their env files: before a rollout
 * (rolloutApplicationVersion, createRollout) writes anything, each moved docker deployment's env
 * file is checked against the new version with the rule updateDeployment applies
 * (checkDockerDeployment: the compose file interpolated with the env template and the env file;
 * a required `${VAR:?…}` left unset is an error). Image lookups are left out: images are the
 * version's, checked when it was created, and a rollout must not wait on registries per deployment.
 */
import { InvalidInputError } from '../errors.js';
import { checkDockerDeployment, DEFAULT_CHECK_SETTINGS } from '../validation/checks.js';
import type { Finding } from '../validation/findings.js';

export interface MovedDeployment {
  id: string;
  targetName: string;
  envFile: string | null;
}

export interface VersionToFit {
  name: string;
  composeFile?: string | null;
  envTemplate?: string | null;
}

const SETTINGS = { ...DEFAULT_CHECK_SETTINGS, checkImages: false };
const MISSING = /required variable (\S+) is missing a value/;

/**
 * What is wrong with one deployment's configuration on the new version: the unset variables, else
 * where the errors are (not their messages: they may quote env file values).
 */
function describe(errors: readonly Finding[]): string {
  const variables = errors.flatMap((f) => (f.code === 'missing_variable' ? [MISSING.exec(f.message)?.[1] ?? f.path] : []));
  if (variables.length > 0) return `leaves ${variables.join(', ')} unset`;
  return `fails the version's checks (${errors.map((f) => `${f.code}${f.path ? ` at ${f.path}` : ''}`).slice(0, 3).join(', ')}; validateDeployment with its env file shows them)`;
}

/**
 * Throws an InvalidInputError on `field` naming every deployment (up to 10) whose env file does
 * not fit `version`, and the variables it leaves unset. Kubernetes versions pass (no env file).
 */
export async function requireConfigurationsFit(version: VersionToFit, moved: readonly MovedDeployment[], field = 'versionId'): Promise<void> {
  if (version.composeFile === null || version.composeFile === undefined) return;
  // The same env file gives the same findings: checked once (a fleet often shares one).
  const byEnvFile = new Map<string, MovedDeployment[]>();
  for (const d of moved) {
    const key = d.envFile ?? '';
    (byEnvFile.get(key) ?? byEnvFile.set(key, []).get(key)!).push(d);
  }
  const unfit: string[] = [];
  let count = 0;
  for (const [envFile, deployments] of byEnvFile) {
    const findings = await checkDockerDeployment({ composeFile: version.composeFile, envTemplate: version.envTemplate, envFile, envField: 'envFile' }, SETTINGS);
    const errors = findings.filter((f) => f.severity === 'error');
    if (errors.length === 0) continue;
    const what = describe(errors);
    for (const d of deployments) {
      count++;
      if (unfit.length < 10) unfit.push(`deployment ${d.id} on target "${d.targetName}" ${what}`);
    }
  }
  if (count === 0) return;
  const more = count > unfit.length ? ` (and ${count - unfit.length} more)` : '';
  throw new InvalidInputError(
    field,
    `version "${version.name}" does not fit the env file of ${count} deployment(s), nothing was changed: ${unfit.join('; ')}${more}. Set the variables in their env files (updateDeployment) or give them a value in the version's env template`,
  );
}
