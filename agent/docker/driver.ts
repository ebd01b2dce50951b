import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { parse as parseEnvFile } from 'dotenv';
import type { DeploymentDriver, DriverContext, ObservedStatus, RuntimePreviewResult } from '../core/driver.js';
import { isRegistryAuthFailure, PermanentApplyError } from '../core/driver.js';
import { isMissingImageFailure } from '../core/decisions.js';
import type { DeletedDeployment, DesiredDeployment, DockerDesiredDeployment, LogLine, RegistryAuth, WireRuntimePreviewRequest } from '../../protocol/index.js';
import { dockerConfigJson } from '../core/docker-config.js';
import { cliEnvironment, runCli, silentLogger, type DriverLogger } from './cli.js';
import { followProjectLogs } from './logs.js';
import { classifyContainer, summarizeContainers } from './status.js';
import type { ComposeOnFiles } from './preview.js';
import { summarizeSwarmServices, type SwarmServiceInfo, type SwarmTaskInfo } from './swarm-status.js';

export type PullPolicy = 'always' | 'missing' | 'never';

export interface DockerDriverOptions {
  /** Folder holding one work folder per deployment this agent created. */
  workRoot: string;
  /** Engine client; defaults to one on socketPath, else dockerode's defaults (DOCKER_HOST). */
  docker?: Docker;
  /** Engine socket, used by dockerode and (as DOCKER_HOST) by the docker CLI. */
  socketPath?: string;
  /** When images are pulled before `up`. Default 'missing'. */
  pullPolicy?: PullPolicy;
  /** How compose is invoked. Default ['docker', 'compose']. */
  composeCommand?: readonly string[];
  /** How the docker CLI is invoked (stack deploy, service update). Default ['docker']. */
  dockerCommand?: readonly string[];
  logger?: DriverLogger;
  logs?: { flushIntervalMs?: number; maxBatchLines?: number; relistIntervalMs?: number };
}

/** Written into each work folder: how the agent recognises (and later removes) what it created. */
export interface DeploymentMarker {
  deploymentId: string;
  projectName: string;
  composeType: 'compose' | 'swarm';
  revisionId: string;
  appliedAt: string;
}

export const MARKER_FILE = 'deployment.json';
const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
const STACK_NAMESPACE_LABEL = 'com.docker.stack.namespace';
/** Deployment ids become folder names: no separators, no dot-dot. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

interface WorkPaths {
  dir: string;
  composeFile: string;
  envFile: string;
  dockerConfig: string;
  marker: string;
}

function asDockerDeployment(deployment: DesiredDeployment): DockerDesiredDeployment {
  if (deployment.type !== 'docker') {
    throw new Error(`the docker driver cannot handle a ${deployment.type} deployment (${deployment.deploymentId})`);
  }
  return deployment;
}

function projectLabel(marker: Pick<DeploymentMarker, 'composeType' | 'projectName'>): string {
  const key = marker.composeType === 'swarm' ? STACK_NAMESPACE_LABEL : COMPOSE_PROJECT_LABEL;
  return `${key}=${marker.projectName}`;
}

/** Written to a temp file first, so a crash never leaves a half-written compose or .env file. */
async function writeFileAtomic(file: string, content: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode: 0o600 });
  await rename(temp, file);
}


/** The docker CLI's config.json for these credentials (Docker Hub under its historical key). */
export { dockerConfigJson };

function isNotFound(error: unknown): boolean {
  const e = error as { code?: unknown; statusCode?: unknown };
  return e?.code === 'ENOENT' || e?.statusCode === 404;
}

export class DockerDriver implements DeploymentDriver {
  readonly type = 'docker' as const;
  private readonly workRoot: string;
  private readonly docker: Docker;
  private readonly dockerHost: string | null;
  private readonly pullPolicy: PullPolicy;
  private readonly composeCommand: readonly string[];
  private readonly dockerCommand: readonly string[];
  private readonly logger: DriverLogger;
  private readonly logOptions: { flushIntervalMs: number; maxBatchLines: number; relistIntervalMs: number };

  constructor(options: DockerDriverOptions) {
    this.workRoot = path.resolve(options.workRoot);
    this.docker =
      options.docker ?? (options.socketPath ? new Docker({ socketPath: options.socketPath }) : new Docker());
    const socketPath = options.socketPath ?? (this.docker.modem as { socketPath?: unknown }).socketPath;
    this.dockerHost = typeof socketPath === 'string' ? `unix://${socketPath}` : null;
    this.pullPolicy = options.pullPolicy ?? 'missing';
    this.composeCommand = options.composeCommand ?? ['docker', 'compose'];
    this.dockerCommand = options.dockerCommand ?? ['docker'];
    this.logger = options.logger ?? silentLogger;
    this.logOptions = {
      flushIntervalMs: options.logs?.flushIntervalMs ?? 250,
      maxBatchLines: options.logs?.maxBatchLines ?? 200,
      relistIntervalMs: options.logs?.relistIntervalMs ?? 2_000,
    };
  }

  /** Container events of compose projects and stacks (health flips, deaths, starts) → onChange. */
  async watch(onChange: () => void, signal: AbortSignal): Promise<void> {
    const stream = (await (this.docker.getEvents as (opts: unknown) => Promise<unknown>)({
      filters: { type: ['container'], event: ['health_status', 'die', 'start', 'restart', 'stop', 'destroy', 'oom'] },
      abortSignal: signal,
    })) as NodeJS.ReadableStream;
    await new Promise<void>((resolve) => {
      stream.on('data', () => onChange());
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  async apply(desired: DesiredDeployment, ctx: DriverContext): Promise<void> {
    const deployment = asDockerDeployment(desired);
    const paths = this.paths(deployment.deploymentId);
    if (deployment.composeType === 'swarm' && !(await this.swarmActive())) {
      throw new Error('docker swarm is not active on this host: run `docker swarm init` or use compose type compose');
    }
    const previous = await this.readMarker(deployment.deploymentId);
    if (previous && (previous.projectName !== deployment.projectName || previous.composeType !== deployment.composeType)) {
      // Project name and type are meant to be stable; if they change, the old project would be orphaned.
      this.logger.warn({ deploymentId: deployment.deploymentId, previous }, 'project name or type changed: removing the old project');
      await this.teardown(previous, false, ctx.signal);
    }
    await mkdir(paths.dockerConfig, { recursive: true, mode: 0o700 });
    await writeFileAtomic(paths.composeFile, deployment.composeFile);
    await writeFileAtomic(paths.envFile, deployment.envFile);
    // The marker goes down before docker runs, so a half-applied deployment can still be removed.
    const marker: DeploymentMarker = {
      deploymentId: deployment.deploymentId,
      projectName: deployment.projectName,
      composeType: deployment.composeType,
      revisionId: deployment.revisionId,
      appliedAt: new Date().toISOString(),
    };
    await writeFileAtomic(paths.marker, `${JSON.stringify(marker, null, 2)}\n`);

    await this.withCredentials(deployment, paths, async () => {
      if (deployment.composeType === 'swarm') {
        await this.deployStack(deployment, paths, ctx.signal);
      } else {
        // `up` pulls what each service's pull_policy asks for (default: missing, so an image
        // present on the engine is not pulled); the agent's pullPolicy option, when not
        // 'missing', overrides it for every service.
        const up = ['up', '--detach', '--remove-orphans', ...(this.pullPolicy === 'missing' ? [] : ['--pull', this.pullPolicy])];
        await this.compose(marker, up, 'docker compose up', ctx.signal).catch(async (upError: Error) => {
          if (ctx.signal.aborted) throw upError;
          // Only on failure (the success path spends one subprocess): an invalid file (or a
          // required variable without a value) fails the same way every time, so permanent, and
          // the agent waits for a new revision instead of retrying forever; otherwise up's own
          // error decides (retried, unless withCredentials finds it permanent).
          const invalid = await this.compose(marker, ['config', '--quiet'], 'docker compose config', ctx.signal).then(
            () => null,
            (configError: Error) => configError,
          );
          if (invalid && !ctx.signal.aborted) throw new PermanentApplyError(invalid.message);
          throw upError;
        });
      }
    });
    this.logger.info({ deploymentId: deployment.deploymentId, revisionId: deployment.revisionId }, 'deployment applied');
  }

  async restart(desired: DesiredDeployment, ctx: DriverContext): Promise<void> {
    const deployment = asDockerDeployment(desired);
    const marker = await this.requireMarker(deployment.deploymentId);
    if (marker.composeType === 'compose') {
      await this.compose(marker, ['restart'], 'docker compose restart', ctx.signal);
      return;
    }
    // Swarm replaces tasks rather than restarting containers: force an update of each service
    // (with the registry credentials, so the new tasks can pull private images).
    const services = await this.docker.listServices({ filters: { label: [projectLabel(marker)] } });
    await this.withCredentials(deployment, this.paths(deployment.deploymentId), async () => {
      for (const service of services) {
        await this.dockerCli(marker, ['service', 'update', '--force', '--detach', '--with-registry-auth', service.ID], 'docker service update --force', ctx.signal);
      }
    });
  }

  /**
   * Registry logins for the docker calls in `run`: the credentials go into the deployment's own
   * DOCKER_CONFIG (mode 0600) just before and are removed right after, whatever happens. A
   * registry refusing them, or an image missing in the registry, is a PermanentApplyError:
   * reported once, retried when the credentials or the revision change.
   */
  private async withCredentials<T>(deployment: DockerDesiredDeployment, paths: WorkPaths, run: () => Promise<T>): Promise<T> {
    const configFile = path.join(paths.dockerConfig, 'config.json');
    await mkdir(paths.dockerConfig, { recursive: true, mode: 0o700 });
    await writeFileAtomic(configFile, dockerConfigJson(deployment.registryAuths ?? []));
    try {
      return await run();
    } catch (error) {
      const message = (error as Error).message;
      if (isRegistryAuthFailure(message) || isMissingImageFailure(message)) throw new PermanentApplyError(message);
      throw error;
    } finally {
      await rm(configFile, { force: true });
    }
  }

  async observe(desired: DesiredDeployment): Promise<ObservedStatus> {
    const deployment = asDockerDeployment(desired);
    if (deployment.composeType === 'swarm') return this.observeStack(deployment);
    const containers = await this.docker.listContainers({ all: true, filters: { label: [projectLabel(deployment)] } });
    const relevant = containers.filter((c) => c.Labels['com.docker.compose.oneoff'] !== 'True');
    const inspected = await Promise.all(
      relevant.map((c) =>
        this.docker
          .getContainer(c.Id)
          .inspect()
          .catch((error: unknown) => {
            if (isNotFound(error)) return null; // removed between list and inspect
            throw error;
          }),
      ),
    );
    const infos = inspected.filter((info) => info !== null);
    return summarizeContainers(infos.map((info) => classifyContainer(info, `${deployment.projectName}-`)));
  }

  /** The candidate's normalized compose config against the applied files and the running containers (agent/docker/preview.ts). */
  async preview(deploymentId: string, current: DesiredDeployment | null, candidate: WireRuntimePreviewRequest, ctx: DriverContext): Promise<RuntimePreviewResult> {
    if (candidate.composeFile == null || candidate.envFile == null) throw new Error('the docker agent got a runtime preview without a compose file');
    const paths = this.paths(deploymentId);
    const marker = await this.readMarker(deploymentId);
    const projectName = marker?.projectName ?? (current ? asDockerDeployment(current).projectName : null);
    if (!projectName) throw new Error(`deployment ${deploymentId} is not in this agent's desired state`);
    const compose: ComposeOnFiles = (files, args, what) =>
      runCli({
        what,
        command: this.composeCommand,
        args: ['--project-name', projectName, '--project-directory', files.projectDirectory, '--file', files.composeFile, '--env-file', files.envFile, '--ansi', 'never', ...args],
        cwd: files.projectDirectory,
        env: cliEnvironment({ dockerConfigDir: path.join(path.dirname(files.composeFile), 'docker-config'), dockerHost: this.dockerHost }),
        signal: ctx.signal,
        logger: this.logger,
      });
    // Loaded on the first preview (it brings yaml and diff): an agent that is never asked for one
    // does not hold them in memory.
    const { previewCompose, projectContainers } = await import('./preview.js');
    return previewCompose({
      projectName,
      workDir: paths.dir,
      applied: marker ? { composeFile: paths.composeFile, envFile: paths.envFile, revisionId: marker.revisionId } : null,
      candidate: { composeFile: candidate.composeFile, envFile: candidate.envFile },
      running: await projectContainers(this.docker, projectName),
      compose,
    });
  }

  /** A stack's status comes from its services' tasks (what swarm schedules), not from containers. */
  private async observeStack(deployment: DockerDesiredDeployment): Promise<ObservedStatus> {
    if (!(await this.swarmActive())) return { phase: 'error', message: 'docker swarm is not active on this host', resources: [] };
    const services = (await this.docker.listServices({ filters: { label: [projectLabel(deployment)] } })) as SwarmServiceInfo[];
    const tasks = services.length
      ? ((await this.docker.listTasks({ filters: { service: services.map((s) => s.ID) } })) as SwarmTaskInfo[])
      : [];
    return summarizeSwarmServices(services, tasks, `${deployment.projectName}_`);
  }

  async listManaged(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.workRoot, { withFileTypes: true });
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
    const ids: string[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !SAFE_ID.test(entry.name)) continue;
      if (await this.readMarker(entry.name)) ids.push(entry.name);
    }
    return ids.sort();
  }

  async remove(deploymentId: string, options: DeletedDeployment | null, ctx: DriverContext): Promise<void> {
    const paths = this.paths(deploymentId);
    const marker = await this.readMarker(deploymentId);
    // No marker: this agent never got as far as running docker for it, so nothing to tear down.
    if (marker) await this.teardown(marker, options?.removeVolumes === true, ctx.signal);
    await rm(paths.dir, { recursive: true, force: true });
    this.logger.info({ deploymentId, removeVolumes: options?.removeVolumes === true }, 'deployment removed');
  }

  async followLogs(
    desired: DesiredDeployment,
    since: string | null,
    onLines: (lines: LogLine[]) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const deployment = asDockerDeployment(desired);
    await followProjectLogs({
      docker: this.docker,
      deploymentId: deployment.deploymentId,
      projectLabel: projectLabel(deployment),
      since,
      onLines,
      signal,
      logger: this.logger,
      ...this.logOptions,
    });
  }

  private async teardown(marker: DeploymentMarker, removeVolumes: boolean, signal: AbortSignal): Promise<void> {
    if (marker.composeType === 'swarm') {
      // Outside swarm mode no stack can exist on this engine, and `stack rm` would only fail.
      if (!(await this.swarmActive())) return;
      // Stack volumes are left alone: their containers go away asynchronously after `stack rm`.
      await this.dockerCli(marker, ['stack', 'rm', marker.projectName], 'docker stack rm', signal);
      return;
    }
    const down = ['down', '--remove-orphans', ...(removeVolumes ? ['--volumes'] : [])];
    await this.compose(marker, down, 'docker compose down', signal);
  }

  private async deployStack(deployment: DockerDesiredDeployment, paths: WorkPaths, signal: AbortSignal): Promise<void> {
    const resolveImage = { always: 'always', missing: 'changed', never: 'never' }[this.pullPolicy];
    const args = ['stack', 'deploy', '--compose-file', paths.composeFile, '--prune', '--with-registry-auth'];
    args.push('--resolve-image', resolveImage, deployment.projectName);
    // `stack deploy` has no --env-file: the compose file is interpolated from its environment.
    const env = parseEnvFile(deployment.envFile);
    await this.dockerCli(deployment, args, 'docker stack deploy', signal, env);
  }

  private async swarmActive(): Promise<boolean> {
    const info = (await this.docker.info()) as { Swarm?: { LocalNodeState?: string } };
    return info.Swarm?.LocalNodeState === 'active';
  }

  private async compose(marker: DeploymentMarker, args: string[], what: string, signal: AbortSignal): Promise<string> {
    const paths = this.paths(marker.deploymentId);
    const global = ['--project-name', marker.projectName, '--file', paths.composeFile, '--env-file', paths.envFile];
    // Quiet progress: on failure stderr then holds docker's error rather than progress lines.
    global.push('--ansi', 'never', '--progress', 'quiet');
    return runCli({
      what,
      command: this.composeCommand,
      args: [...global, ...args],
      cwd: paths.dir,
      env: cliEnvironment({ dockerConfigDir: paths.dockerConfig, dockerHost: this.dockerHost }),
      signal,
      logger: this.logger,
    });
  }

  /** A plain docker CLI call (stack, service) for one deployment. */
  private async dockerCli(
    deployment: Pick<DeploymentMarker, 'deploymentId'>,
    args: string[],
    what: string,
    signal: AbortSignal,
    extraEnv?: Record<string, string>,
  ): Promise<string> {
    const paths = this.paths(deployment.deploymentId);
    return runCli({
      what,
      command: this.dockerCommand,
      args,
      cwd: paths.dir,
      env: cliEnvironment({ dockerConfigDir: paths.dockerConfig, dockerHost: this.dockerHost, extra: extraEnv }),
      signal,
      logger: this.logger,
    });
  }

  private paths(deploymentId: string): WorkPaths {
    if (!SAFE_ID.test(deploymentId) || deploymentId.includes('..')) {
      throw new Error(`invalid deployment id for a folder name: ${JSON.stringify(deploymentId)}`);
    }
    const dir = path.join(this.workRoot, deploymentId);
    return {
      dir,
      composeFile: path.join(dir, 'compose.yaml'),
      envFile: path.join(dir, '.env'),
      dockerConfig: path.join(dir, 'docker-config'),
      marker: path.join(dir, MARKER_FILE),
    };
  }

  private async readMarker(deploymentId: string): Promise<DeploymentMarker | null> {
    try {
      return JSON.parse(await readFile(this.paths(deploymentId).marker, 'utf8')) as DeploymentMarker;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  private async requireMarker(deploymentId: string): Promise<DeploymentMarker> {
    const marker = await this.readMarker(deploymentId);
    if (!marker) throw new Error(`deployment ${deploymentId} has not been applied by this agent`);
    return marker;
  }
}
