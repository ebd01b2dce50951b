/**
 * The helm CLI as the Kubernetes driver uses it: upgrade --install, status, get manifest,
 * uninstall, list. Every call honours an AbortSignal and failures carry helm's stderr.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import YAML from 'yaml';
import type { ChartRef, RegistryAuth } from '../../protocol/index.js';
import { PermanentApplyError } from '../core/driver.js';

export interface HelmOptions {
  /** helm binary; default `helm` on PATH. */
  binary: string;
  /** Extra environment for helm (HELM_*_HOME, KUBECONFIG) over the inherited one. */
  env: Record<string, string>;
  /** Pass --plain-http for oci:// charts (a registry without TLS). */
  plainHttp: boolean;
}

export interface HelmReleaseStatus {
  name: string;
  namespace: string;
  /** The helm revision number. */
  version: number;
  info: { status: string; description?: string };
}

export interface UpgradeRequest {
  releaseName: string;
  namespace: string;
  chart: ChartRef;
  values: Record<string, unknown>;
  timeoutSeconds: number;
  wait: boolean;
  atomic: boolean;
  createNamespace: boolean;
  /** Registry credentials of the deployment: the chart's host is logged in through helm's own options. */
  registryAuths?: readonly RegistryAuth[];
}

/** The credential for a chart's host (oci://HOST/… or https://HOST/…), if the deployment has one. */
export function chartCredential(chart: ChartRef, auths: readonly RegistryAuth[] = []): RegistryAuth | null {
  let host: string;
  try {
    host = new URL(chart.url.replace(/^oci:/, 'http:')).host.toLowerCase();
  } catch {
    return null;
  }
  return auths.find((a) => a.host === host) ?? null;
}

export class HelmError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly exitCode: number | undefined,
  ) {
    super(`${command} failed: ${stderr.trim().replace(/^Error: /, '') || `exit code ${exitCode}`}`);
  }
}

/** helm's "not found" for a release that does not exist (status, get, uninstall, history). */
export function isReleaseNotFound(error: unknown): boolean {
  return error instanceof HelmError && /release: not found/i.test(error.stderr);
}

export class HelmCli {
  constructor(private readonly options: HelmOptions) {}

  /** Run helm; `what` names the command in errors (default `helm <subcommand>`). */
  async run(args: string[], signal?: AbortSignal, what = `helm ${args[0]}`): Promise<string> {
    const result = await execa(this.options.binary, args, {
      env: { ...process.env, ...this.options.env },
      cancelSignal: signal,
      forceKillAfterDelay: 5_000,
      reject: false,
      stripFinalNewline: false,
    });
    if (result.isCanceled) throw signal?.reason instanceof Error ? signal.reason : new Error(`helm ${args[0]} was cancelled`);
    if (result.exitCode !== 0) {
      // Never execa's message: it holds the command line (a repository chart's --password).
      throw new HelmError(what, result.stderr || result.stdout || '', result.exitCode);
    }
    return result.stdout;
  }

  async upgradeInstall(request: UpgradeRequest, signal: AbortSignal): Promise<void> {
    await this.upgrade(request, [], signal, `helm upgrade --install ${request.releaseName} (namespace ${request.namespace})`);
  }

  /**
   * `helm upgrade --install --dry-run=server`: the manifest helm would apply, rendered with the
   * cluster's lookups and validated by the API server. Changes nothing.
   */
  async dryRunManifest(request: Omit<UpgradeRequest, 'wait' | 'atomic'>, signal: AbortSignal): Promise<string> {
    const out = await this.upgrade({ ...request, wait: false, atomic: false }, ['--dry-run=server', '--output', 'json'], signal, `helm upgrade --dry-run=server ${request.releaseName} (namespace ${request.namespace})`);
    return (JSON.parse(out) as { manifest?: string }).manifest ?? '';
  }

  private async upgrade(request: UpgradeRequest, extra: string[], signal: AbortSignal, what: string): Promise<string> {
    // Values go through a file: --set would re-parse strings, and argv has size limits.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'distr-helm-values-'));
    try {
      const valuesFile = path.join(dir, 'values.yaml');
      await writeFile(valuesFile, YAML.stringify(request.values), { mode: 0o600 });
      const { chart } = request;
      const args = ['upgrade', '--install', request.releaseName];
      const credential = chartCredential(chart, request.registryAuths);
      // A pinned digest: install exactly the archive the hub checked (pull — with the credential
      // when the chart is private — compare, install the file).
      const pinned = Boolean(chart.digest);
      if (pinned) {
        args.push(await this.pullVerified(chart, dir, signal, credential));
      } else {
        args.push(...this.chartArgs(chart), ...(await this.credentialArgs(chart, credential, dir)));
      }
      if (!pinned) args.push('--version', chart.version);
      args.push('--namespace', request.namespace, '--values', valuesFile);
      args.push('--timeout', `${Math.max(1, Math.round(request.timeoutSeconds))}s`);
      if (request.wait || request.atomic) args.push('--wait');
      if (request.atomic) args.push('--atomic');
      if (request.createNamespace) args.push('--create-namespace');
      return await this.run([...args, ...extra], signal, what);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private chartArgs(chart: ChartRef): string[] {
    if (chart.type === 'oci') return [chart.url, ...(this.options.plainHttp ? ['--plain-http'] : [])];
    if (!chart.name) throw new Error(`chart name is missing for repository ${chart.url}`);
    return [chart.name, '--repo', chart.url];
  }

  /**
   * The credential through helm's own options, for this one call: a registry config (docker
   * config format, 0600, in the call's temp folder) for oci:// charts, --username/--password for
   * repository charts.
   */
  private async credentialArgs(chart: ChartRef, credential: RegistryAuth | null, dir: string): Promise<string[]> {
    if (!credential) return [];
    if (chart.type !== 'oci') return ['--username', credential.username, '--password', credential.password];
    const registryConfig = path.join(dir, 'registry-config.json');
    const auth = Buffer.from(`${credential.username}:${credential.password}`).toString('base64');
    await writeFile(registryConfig, JSON.stringify({ auths: { [credential.host]: { auth } } }), { mode: 0o600 });
    return ['--registry-config', registryConfig];
  }

  /** `helm pull` the chart (with `credential` when given) into `dir` and return the archive's path once its sha256 matches. */
  async pullVerified(chart: ChartRef, dir: string, signal?: AbortSignal, credential: RegistryAuth | null = null): Promise<string> {
    const into = path.join(dir, 'chart');
    await mkdir(into, { recursive: true });
    const auth = await this.credentialArgs(chart, credential, dir);
    await this.run(['pull', ...this.chartArgs(chart), ...auth, '--version', chart.version, '--destination', into], signal, `helm pull ${chart.name ?? chart.url} ${chart.version}`);
    const [file] = (await readdir(into)).filter((f) => f.endsWith('.tgz'));
    if (!file) throw new Error(`helm pull ${chart.url} ${chart.version} wrote no chart archive`);
    const archive = path.join(into, file);
    const digest = `sha256:${createHash('sha256').update(await readFile(archive)).digest('hex')}`;
    if (digest !== chart.digest) {
      throw new PermanentApplyError(
        `chart ${chart.name ?? chart.url} ${chart.version} has digest ${digest}, but the hub validated ${chart.digest}: the registry now serves different content for this version; publish a new chart version (or a new application version)`,
      );
    }
    return archive;
  }

  /** The release's status, or null when it does not exist. */
  async status(releaseName: string, namespace: string, signal?: AbortSignal): Promise<HelmReleaseStatus | null> {
    try {
      const out = await this.run(['status', releaseName, '--namespace', namespace, '--output', 'json'], signal);
      return JSON.parse(out) as HelmReleaseStatus;
    } catch (error) {
      if (isReleaseNotFound(error)) return null;
      throw error;
    }
  }

  /** Releases (any status) in one namespace, or in all namespaces when namespace is null. */
  async list(namespace: string | null, signal?: AbortSignal): Promise<{ name: string; namespace: string; revision: string; status: string }[]> {
    const scope = namespace === null ? ['--all-namespaces'] : ['--namespace', namespace];
    const out = await this.run(['list', ...scope, '--all', '--max', '0', '--output', 'json'], signal);
    return JSON.parse(out || '[]') as { name: string; namespace: string; revision: string; status: string }[];
  }

  async manifest(releaseName: string, namespace: string, signal?: AbortSignal): Promise<string> {
    return this.run(['get', 'manifest', releaseName, '--namespace', namespace], signal);
  }

  /** Uninstall; false when the release was already gone. */
  async uninstall(releaseName: string, namespace: string, timeoutSeconds: number, signal: AbortSignal): Promise<boolean> {
    try {
      await this.run(['uninstall', releaseName, '--namespace', namespace, '--timeout', `${timeoutSeconds}s`], signal);
      return true;
    } catch (error) {
      if (isReleaseNotFound(error)) return false;
      throw error;
    }
  }
}
