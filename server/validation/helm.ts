/**
 * A Helm chart reference resolved the way helm resolves it, at version creation: repository
 * charts through the repository's index.yaml (name and exact version), OCI charts through the
 * registry API (the tag, helm's `+`→`_`); then the packaged chart itself is read (Chart.yaml,
 * values.yaml, values.schema.json, kubeVersion, dependencies) and its digest (sha256 of the
 * .tgz, the same bytes for both kinds) recorded so the agent installs exactly what was checked.
 * Charts behind credentials are read with the vendor's registry credential for the chart's host
 * (basic auth for repositories, as `helm --username/--password` sends it to the repository's own
 * host only; the token or basic flow for OCI registries).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import semver from 'semver';
import tarStream from 'tar-stream';
import { finding, type Finding } from './findings.js';
import { parseSafeYamlMapping } from './yaml.js';
import type { RegistryAuth } from '../../protocol/index.js';
import { basicAuthorization, credentialFor, fetchWithTimeout, RegistryClient, RegistryError } from './registry.js';

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface ChartReference {
  type: 'oci' | 'repository';
  url: string;
  name: string | null;
  version: string;
}

export interface ChartInfo {
  /** `sha256:<hex>` of the packaged chart (.tgz). */
  digest: string;
  name: string;
  version: string;
  kubeVersion: string | null;
  dependencies: { name: string; version: string | null; repository: string | null }[];
  defaultValues: Dict;
  valuesSchema: Dict | null;
}

export interface ChartCheckOptions {
  timeoutMs: number;
  /** Largest chart archive read (bytes). */
  maxChartBytes?: number;
  /** The vendor's registry credentials that apply (one per host). */
  credentials?: readonly RegistryAuth[];
}

export interface ChartCheck {
  findings: Finding[];
  chart: ChartInfo | null;
}

const MAX_INDEX_BYTES = 32 * 1024 * 1024;
const MAX_CHART_BYTES = 16 * 1024 * 1024;

/** `version` must be an exact SemVer version; a range is a constraint helm would resolve later. */
export function chartVersionFindings(version: string): Finding[] {
  if (semver.valid(version)) return [];
  if (semver.validRange(version)) {
    return [
      finding('error', 'chart_version_constraint', 'chartVersion', '', `"${version}" is a version constraint, not a version: a version is immutable and must name one chart version`, 'Pin an exact version such as 1.2.3.'),
    ];
  }
  return [finding('error', 'chart_version_invalid', 'chartVersion', '', `"${version}" is not a SemVer version`, 'Use the exact version from the chart\'s Chart.yaml, e.g. 1.2.3.')];
}

function unreachable(url: string, error: unknown): Finding {
  const reason = error instanceof Error ? error.message : String(error);
  return finding('error', 'registry_unreachable', 'chartUrl', '', `cannot reach ${url}: ${reason}`, 'Check the URL and that the hub can reach it; an air-gapped hub can set DISTR_ALLOW_UNCHECKED_CHARTS=true to create the version anyway (with a warning).');
}

function authRequired(url: string, host: string): Finding {
  return finding(
    'warning',
    'chart_auth_required',
    'chartUrl',
    '',
    `cannot check ${url}: authentication required`,
    `No registry credential for ${host} applies: add one (createRegistryCredential) so the hub can check the chart and pin its digest; otherwise the agent checks it at install time.`,
  );
}

/** A 401/403 although the vendor's credential was sent. The message never holds the secret. */
export function credentialsRejected(field: string, path: string, what: string, host: string): Finding {
  return finding('warning', 'registry_credentials_rejected', field, path, `${path ? `${path}: ` : ''}cannot check ${what}: the credentials for ${host} were rejected`, `Fix the registry credential for ${host} (updateRegistryCredential): the agents get the same one.`);
}

/** `host[:port]` of a chart URL as the agent matches credentials (helm's chart host). */
export function chartHost(url: string): string {
  try {
    return new URL(url.replace(/^oci:/, 'http:')).host.toLowerCase();
  } catch {
    return '';
  }
}

async function readChartArchive(archive: Buffer): Promise<{ files: Map<string, Buffer> }> {
  const extract = tarStream.extract();
  const files = new Map<string, Buffer>();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        // <chart>/Chart.yaml, <chart>/values.yaml, <chart>/charts/<dep>/... — keep the path below the top folder.
        const rel = header.name.split('/').slice(1).join('/');
        if (header.type === 'file' && rel !== '') files.set(rel, Buffer.concat(chunks));
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from(archive).pipe(createGunzip()).on('error', (e) => extract.destroy(e)).pipe(extract);
  await done;
  return { files };
}

/** Read a packaged chart: Chart.yaml, values, schema, dependencies present in charts/. */
export async function inspectChartArchive(archive: Buffer, label: string): Promise<{ chart: ChartInfo | null; findings: Finding[] }> {
  const digest = `sha256:${createHash('sha256').update(archive).digest('hex')}`;
  let files: Map<string, Buffer>;
  try {
    ({ files } = await readChartArchive(archive));
  } catch (error) {
    return { chart: null, findings: [finding('error', 'chart_invalid', 'chartUrl', '', `${label} is not a chart archive: ${(error as Error).message}`)] };
  }
  const chartYaml = files.get('Chart.yaml');
  if (!chartYaml) return { chart: null, findings: [finding('error', 'chart_invalid', 'chartUrl', '', `${label} has no Chart.yaml`)] };
  const findings: Finding[] = [];
  let meta: Dict;
  try {
    meta = parseSafeYamlMapping(chartYaml.toString('utf8'));
  } catch (error) {
    return { chart: null, findings: [finding('error', 'chart_invalid', 'chartUrl', '', `${label}: Chart.yaml is not valid: ${(error as Error).message}`)] };
  }
  let defaultValues: Dict = {};
  const valuesYaml = files.get('values.yaml');
  if (valuesYaml) {
    try {
      defaultValues = parseSafeYamlMapping(valuesYaml.toString('utf8'));
    } catch (error) {
      findings.push(finding('error', 'chart_invalid', 'chartUrl', '', `${label}: values.yaml is not valid: ${(error as Error).message}`));
    }
  }
  let valuesSchema: Dict | null = null;
  const schemaFile = files.get('values.schema.json');
  if (schemaFile) {
    try {
      const parsed = JSON.parse(schemaFile.toString('utf8')) as unknown;
      if (isDict(parsed)) valuesSchema = parsed;
    } catch (error) {
      findings.push(finding('error', 'chart_invalid', 'chartUrl', '', `${label}: values.schema.json is not valid JSON: ${(error as Error).message}`));
    }
  }
  const kubeVersion = typeof meta.kubeVersion === 'string' ? meta.kubeVersion : null;
  if (kubeVersion && !semver.validRange(kubeVersion, { includePrerelease: true })) {
    findings.push(finding('warning', 'chart_kube_version', 'chartVersion', '', `${label}: kubeVersion "${kubeVersion}" is not a valid version constraint`));
  }
  const dependencies = (Array.isArray(meta.dependencies) ? meta.dependencies : []).filter(isDict).map((d) => ({
    name: String(d.name ?? ''),
    version: d.version === undefined ? null : String(d.version),
    repository: d.repository === undefined ? null : String(d.repository),
  }));
  const packaged = new Set<string>();
  for (const p of files.keys()) {
    const m = /^charts\/([^/]+?)(?:-\d[^/]*\.tgz|\/Chart\.yaml)$/.exec(p);
    if (m) packaged.add(m[1]!);
  }
  for (const dep of dependencies) {
    if (!packaged.has(dep.name)) {
      findings.push(
        finding('error', 'chart_dependency_missing', 'chartVersion', '', `${label}: dependency "${dep.name}" is declared in Chart.yaml but missing in charts/`, 'Run `helm dependency build` before packaging the chart.'),
      );
    }
  }
  return {
    chart: { digest, name: String(meta.name ?? ''), version: String(meta.version ?? ''), kubeVersion, dependencies, defaultValues, valuesSchema },
    findings,
  };
}

async function readBody(res: Response, max: number, what: string): Promise<Buffer> {
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > max) throw new Error(`${what} is larger than ${max} bytes`);
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > max) throw new Error(`${what} is larger than ${max} bytes`);
  return body;
}

async function checkRepositoryChart(ref: ChartReference, options: ChartCheckOptions): Promise<ChartCheck> {
  const base = ref.url.replace(/\/+$/, '');
  const indexUrl = `${base}/index.yaml`;
  const host = chartHost(base);
  const credential = credentialFor(host, options.credentials);
  // As helm: the credential goes to the repository's own host only (not to archives elsewhere).
  const auth = (url: string): RequestInit => (credential && chartHost(url) === host ? { headers: { Authorization: basicAuthorization(credential) } } : {});
  const denied = (url: string) => (credential && chartHost(url) === host ? credentialsRejected('chartUrl', '', url, host) : authRequired(url, chartHost(url)));
  let res: Response;
  try {
    res = await fetchWithTimeout(indexUrl, auth(indexUrl), options.timeoutMs);
  } catch (error) {
    return { findings: [unreachable(base, error)], chart: null };
  }
  if (res.status === 401 || res.status === 403) return { findings: [denied(base)], chart: null };
  if (res.status === 404) {
    return { findings: [finding('error', 'chart_repository_not_found', 'chartUrl', '', `${base} is not a Helm chart repository: ${indexUrl} answers 404`, 'Use the repository URL you would give to `helm repo add`.')], chart: null };
  }
  if (!res.ok) return { findings: [unreachable(base, new Error(`${indexUrl} answers ${res.status}`))], chart: null };
  let index: Dict;
  try {
    index = parseSafeYamlMapping((await readBody(res, MAX_INDEX_BYTES, 'index.yaml')).toString('utf8'));
  } catch (error) {
    return { findings: [finding('error', 'chart_repository_invalid', 'chartUrl', '', `${indexUrl} is not a valid repository index: ${(error as Error).message}`)], chart: null };
  }
  const entries = isDict(index.entries) ? index.entries : {};
  const name = ref.name ?? '';
  const versions = Array.isArray(entries[name]) ? (entries[name] as unknown[]).filter(isDict) : null;
  if (!versions) {
    const names = Object.keys(entries).sort();
    return {
      findings: [finding('error', 'chart_not_found', 'chartName', '', `chart "${name}" is not in the repository ${base}`, names.length > 0 ? `The repository has: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}.` : 'The repository is empty.')],
      chart: null,
    };
  }
  const entry = versions.find((v) => String(v.version) === ref.version) ?? versions.find((v) => semver.valid(String(v.version)) && semver.eq(String(v.version), ref.version));
  if (!entry) {
    const available = versions.map((v) => String(v.version)).filter((v) => semver.valid(v)).sort(semver.rcompare);
    return {
      findings: [finding('error', 'chart_version_not_found', 'chartVersion', '', `chart "${name}" has no version ${ref.version} in ${base}`, `Available: ${available.slice(0, 8).join(', ') || 'none'}.`)],
      chart: null,
    };
  }
  const urls = Array.isArray(entry.urls) ? entry.urls.map(String) : [];
  if (urls.length === 0) return { findings: [finding('error', 'chart_repository_invalid', 'chartUrl', '', `${indexUrl} lists ${name} ${ref.version} without a download URL`)], chart: null };
  const archiveUrl = new URL(urls[0]!, `${base}/`).toString();
  let archive: Buffer;
  try {
    const got = await fetchWithTimeout(archiveUrl, auth(archiveUrl), options.timeoutMs);
    if (got.status === 401 || got.status === 403) return { findings: [denied(archiveUrl)], chart: null };
    if (!got.ok) return { findings: [finding('error', 'chart_not_found', 'chartVersion', '', `${archiveUrl} (chart ${name} ${ref.version}) answers ${got.status}`)], chart: null };
    archive = await readBody(got, options.maxChartBytes ?? MAX_CHART_BYTES, 'the chart archive');
  } catch (error) {
    return { findings: [unreachable(archiveUrl, error)], chart: null };
  }
  const inspected = await inspectChartArchive(archive, `chart ${name} ${ref.version}`);
  if (inspected.chart && typeof entry.digest === 'string' && `sha256:${entry.digest}` !== inspected.chart.digest) {
    inspected.findings.push(finding('error', 'chart_digest_mismatch', 'chartUrl', '', `${archiveUrl} does not match the digest index.yaml gives for ${name} ${ref.version}`));
  }
  return inspected;
}

async function checkOciChart(ref: ChartReference, options: ChartCheckOptions): Promise<ChartCheck> {
  const m = /^oci:\/\/([^/]+)\/(.+)$/.exec(ref.url);
  if (!m) return { findings: [finding('error', 'chart_reference_invalid', 'chartUrl', '', `"${ref.url}" is not oci://host/repository/chart`)], chart: null };
  const [, host, repository] = m as unknown as [string, string, string];
  const tag = ref.version.replace(/\+/g, '_');
  const client = new RegistryClient(host, options.timeoutMs, credentialFor(host, options.credentials));
  try {
    const manifest = await client.manifest(repository, tag);
    if (!manifest) {
      const tags = await client.tags(repository).catch(() => [] as string[]);
      return {
        findings: [finding('error', 'chart_version_not_found', 'chartVersion', '', `oci://${host}/${repository} has no tag ${tag}`, tags.length > 0 ? `Tags: ${tags.slice(-8).join(', ')}.` : 'Check the chart reference and version.')],
        chart: null,
      };
    }
    const layers = Array.isArray(manifest.body.layers) ? manifest.body.layers.filter(isDict) : [];
    const layer = layers.find((l) => l.mediaType === 'application/vnd.cncf.helm.chart.content.v1.tar+gzip');
    if (!layer) return { findings: [finding('error', 'chart_invalid', 'chartUrl', '', `oci://${host}/${repository}:${tag} is not a Helm chart (no chart layer)`)], chart: null };
    const archive = await client.blob(repository, String(layer.digest), options.maxChartBytes ?? MAX_CHART_BYTES);
    return await inspectChartArchive(archive, `chart oci://${host}/${repository}:${tag}`);
  } catch (error) {
    if (error instanceof RegistryError && error.status === 401) {
      const url = `oci://${host}/${repository}`;
      return { findings: [error.credentialRejected ? credentialsRejected('chartUrl', '', url, host) : authRequired(url, host)], chart: null };
    }
    if (error instanceof RegistryError && error.status === 404) {
      return { findings: [finding('error', 'chart_not_found', 'chartUrl', '', `oci://${host}/${repository} does not exist in the registry`)], chart: null };
    }
    return { findings: [unreachable(`oci://${host}/${repository}`, error)], chart: null };
  }
}

/** Resolve and read a chart. Never throws for what the registry says; findings say it. */
export async function checkChart(ref: ChartReference, options: ChartCheckOptions): Promise<ChartCheck> {
  const versionFindings = chartVersionFindings(ref.version);
  if (versionFindings.length > 0) return { findings: versionFindings, chart: null };
  return ref.type === 'oci' ? checkOciChart(ref, options) : checkRepositoryChart(ref, options);
}
