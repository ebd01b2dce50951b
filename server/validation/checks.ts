/**
 * The troubleshooting checks of a version and of a deployment, as findings (no database here):
 * the compose file with its env template / the deployment's env file, image references and,
 * where the hub reaches their registry, their existence; the Helm chart reference, the chart
 * itself, and values against its values.schema.json.
 */
import { checkCompose } from './compose.js';
import { parseEnvFileKeepingSecrets, EnvFileError } from './env-file.js';
import { finding, type Finding } from './findings.js';
import type { RegistryAuth } from '../../protocol/index.js';
import { checkChart, credentialsRejected, type ChartInfo, type ChartReference } from './helm.js';
import { credentialFor, parseImageReference, RegistryClient, RegistryError } from './registry.js';
import { checkValuesSchema, coalesceValues, mergeUserValues, parseValues } from './values.js';

export interface CheckSettings {
  /** Per registry request. */
  timeoutMs: number;
  /** Air-gapped hubs: an unreachable chart registry is a warning, not an error. */
  allowUncheckedCharts: boolean;
  /** Look images up in their registries (where reachable). */
  checkImages: boolean;
  /**
   * The vendor's registry credentials for this check, one per host (secrets/resolve.ts chooses
   * them by the application and target limits); used for chart and image lookups only.
   */
  credentials?: readonly RegistryAuth[];
}

export const DEFAULT_CHECK_SETTINGS: CheckSettings = { timeoutMs: 10_000, allowUncheckedCharts: false, checkImages: true };

/** Hosts that did not answer recently: asked again only after a minute, so checks stay quick. */
const unreachableHosts = new Map<string, number>();
const UNREACHABLE_MEMORY_MS = 60_000;

export function parseEnvFindings(field: string, text: string): { entries: Record<string, string>; findings: Finding[] } {
  try {
    return { entries: parseEnvFileKeepingSecrets(text), findings: [] };
  } catch (error) {
    if (error instanceof EnvFileError) {
      return { entries: {}, findings: [finding('error', 'env_file_syntax', field, `line ${error.line}`, error.message, 'Lines are KEY=value (export, quotes and comments as in compose .env files).')] };
    }
    throw error;
  }
}

async function imageFindings(field: string, model: Record<string, unknown> | null, settings: CheckSettings, deferred: boolean): Promise<Finding[]> {
  const services = model && typeof model.services === 'object' && model.services ? (model.services as Record<string, Record<string, unknown>>) : {};
  const out: Finding[] = [];
  const lookups: Promise<void>[] = [];
  const seen = new Set<string>();
  for (const [name, service] of Object.entries(services)) {
    if (!service || typeof service.image !== 'string' || service.image === '') continue;
    const path = `services.${name}.image`;
    const ref = parseImageReference(service.image);
    if (!ref) {
      if (!deferred || !service.image.includes('$')) {
        out.push(finding('error', 'image_reference_invalid', field, path, `${path}: "${service.image}" is not a valid image reference`, 'An image is [registry/]repository[:tag][@sha256:digest], lower case.'));
      }
      continue;
    }
    if (!settings.checkImages || seen.has(service.image)) continue;
    seen.add(service.image);
    lookups.push(
      (async () => {
        const until = unreachableHosts.get(ref.host);
        if (until && until > Date.now()) return;
        try {
          const manifest = await new RegistryClient(ref.host, settings.timeoutMs, credentialFor(ref.host, settings.credentials)).manifest(ref.repository, ref.digest ?? ref.tag ?? 'latest');
          if (!manifest) {
            out.push(finding('error', 'image_not_found', field, path, `${path}: image ${service.image} does not exist in ${ref.host}`, 'Push the image, or fix its name or tag.'));
          }
        } catch (error) {
          if (error instanceof RegistryError && error.status === 404) {
            out.push(finding('error', 'image_not_found', field, path, `${path}: repository ${ref.repository} does not exist in ${ref.host}`, 'Push the image, or fix its name.'));
          } else if (error instanceof RegistryError && error.status === 401) {
            out.push(
              error.credentialRejected
                ? credentialsRejected(field, path, service.image as string, ref.host)
                : finding('warning', 'image_auth_required', field, path, `${path}: cannot check ${service.image}: authentication required`, `No registry credential for ${ref.host} applies: add one (createRegistryCredential) so the hub can check the image.`),
            );
          } else if (!(error instanceof RegistryError)) {
            unreachableHosts.set(ref.host, Date.now() + UNREACHABLE_MEMORY_MS);
          }
        }
      })(),
    );
  }
  await Promise.all(lookups);
  return out;
}

export interface DockerVersionInput {
  composeFile: string;
  envTemplate?: string | null;
}

/** A docker version: compose file with its env template as the environment deployments start from. */
export async function checkDockerVersion(input: DockerVersionInput, settings: CheckSettings): Promise<Finding[]> {
  const env = parseEnvFindings('envTemplate', input.envTemplate ?? '');
  if (env.findings.length > 0) return env.findings;
  const compose = checkCompose(input.composeFile, { environment: env.entries, mode: 'version', field: 'composeFile' });
  const findings = [...compose.findings];
  const services = compose.model?.services;
  if (compose.model && (typeof services !== 'object' || services === null || Object.keys(services).length === 0)) {
    // Compose accepts a file without services (an override file); a version deploys something.
    findings.push(finding('error', 'compose_no_services', 'composeFile', 'services', 'is not a compose file: it has no `services` (a version deploys at least one service)', 'Define the application\'s services under `services:`.'));
  }
  for (const v of compose.requiredVariables) {
    findings.push(
      finding('warning', 'required_variable', 'envTemplate', v.path, `${v.name} is required by the compose file${v.message ? ` (${v.message})` : ''} and the env template does not set it: every deployment must`, `Set ${v.name} in each deployment's env file, or give it a value in the env template.`),
    );
  }
  for (const name of compose.unsetVariables) {
    if (compose.requiredVariables.some((v) => v.name === name)) continue;
    findings.push(finding('warning', 'unset_variable', 'envTemplate', '', `${name} is used by the compose file but not set by the env template (compose uses an empty string unless the deployment sets it)`, `Add ${name}= to the env template to make the default explicit.`));
  }
  if (!findings.some((f) => f.severity === 'error')) findings.push(...(await imageFindings('composeFile', compose.model, settings, compose.requiredVariables.length > 0)));
  return findings;
}

/** A docker deployment: the compose file as the agent will run it, with the rendered env file. */
export async function checkDockerDeployment(input: DockerVersionInput & { envFile?: string | null; envField?: string }, settings: CheckSettings): Promise<Finding[]> {
  const envField = input.envField ?? 'envFile';
  const template = parseEnvFindings('envTemplate', input.envTemplate ?? '');
  const own = parseEnvFindings(envField, input.envFile ?? '');
  if (template.findings.length + own.findings.length > 0) return [...template.findings, ...own.findings];
  const environment = { ...template.entries, ...own.entries };
  const compose = checkCompose(input.composeFile, { environment, mode: 'deployment', field: 'composeFile' });
  const findings = compose.findings.map((f) =>
    f.code === 'missing_variable' ? { ...f, field: envField, hint: `Set it in the deployment's env file (${envField}).` } : f,
  );
  for (const name of compose.unsetVariables) {
    findings.push(finding('warning', 'unset_variable', envField, '', `${name} is used by the compose file and not set: compose uses an empty string`, `Set ${name} in the env file if it should have a value.`));
  }
  if (!findings.some((f) => f.severity === 'error')) findings.push(...(await imageFindings('composeFile', compose.model, settings, false)));
  return findings;
}

export interface KubernetesVersionInput extends ChartReference {
  baseValues?: string | null;
  valuesTemplate?: string | null;
}

export interface KubernetesCheck {
  findings: Finding[];
  chart: ChartInfo | null;
}

function downgradeUnreachable(findings: Finding[], settings: CheckSettings): Finding[] {
  if (!settings.allowUncheckedCharts) return findings;
  return findings.map((f) =>
    f.code === 'registry_unreachable' ? { ...f, severity: 'warning', message: `${f.message} — created unchecked (DISTR_ALLOW_UNCHECKED_CHARTS)`, hint: 'The agent will resolve the chart itself; check it when the registry is reachable.' } : f,
  );
}

/** A kubernetes version: the chart resolved and read, base values against its schema. */
export async function checkKubernetesVersion(input: KubernetesVersionInput, settings: CheckSettings): Promise<KubernetesCheck> {
  const base = parseValues('baseValues', input.baseValues);
  const template = parseValues('valuesTemplate', input.valuesTemplate);
  const findings = [...base.findings, ...template.findings];
  const chart = await checkChart(input, { timeoutMs: settings.timeoutMs, credentials: settings.credentials });
  findings.push(...downgradeUnreachable(chart.findings, settings));
  if (chart.chart?.valuesSchema && base.findings.length === 0) {
    findings.push(...checkValuesSchema('baseValues', chart.chart.valuesSchema, coalesceValues(chart.chart.defaultValues, base.values), `chart ${chart.chart.name} ${chart.chart.version}`));
  }
  return { findings, chart: chart.chart };
}

/** A kubernetes deployment: its values over the version's base values, against the chart's schema. */
export async function checkKubernetesDeployment(
  input: KubernetesVersionInput & { valuesYaml?: string | null; valuesField?: string },
  settings: CheckSettings,
): Promise<Finding[]> {
  const field = input.valuesField ?? 'valuesYaml';
  const base = parseValues('baseValues', input.baseValues);
  const own = parseValues(field, input.valuesYaml);
  const findings = [...base.findings, ...own.findings];
  if (findings.length > 0) return findings;
  const chart = await checkChart(input, { timeoutMs: settings.timeoutMs, credentials: settings.credentials });
  findings.push(...chart.findings.map((f) => (f.code === 'registry_unreachable' ? { ...f, severity: 'warning' as const, message: `${f.message}: the values cannot be checked against the chart` } : f)));
  if (chart.chart?.valuesSchema) {
    const user = mergeUserValues(base.values, own.values);
    findings.push(...checkValuesSchema(field, chart.chart.valuesSchema, coalesceValues(chart.chart.defaultValues, user), `chart ${chart.chart.name} ${chart.chart.version}`));
  }
  return findings;
}
