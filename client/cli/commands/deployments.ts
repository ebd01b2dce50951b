/** `distr targets …`, `deploy`, `update`, `rollout`, `restart`, `undeploy`: where and what runs. */
import { Command, Option } from 'commander';
import type { DistrService } from '../../service.js';
import type { Deployment } from '../../types.js';
import { globalsOf, readFileOption, serviceFor, UsageError } from '../context.js';
import { agentState, printDeployments, printJson, printPreview, printRuntimePreview, printTable } from '../output.js';
import { FindingsWithErrors } from './validate.js';

export function targetsCommand(): Command {
  const targets = new Command('targets').description('list and create deployment targets, and their agent access');

  targets
    .command('list')
    .alias('ls')
    .description('list deployment targets and whether their agent is connected')
    .action(async (_opts, cmd: Command) => {
      const list = await serviceFor(cmd).listDeploymentTargets();
      if (globalsOf(cmd).json) return printJson(list);
      printTable(['ID', 'NAME', 'TYPE', 'NAMESPACE', 'AGENT'], list.map((t) => [t.id, t.name, t.type, t.namespace, agentState(t)]));
    });

  targets
    .command('create')
    .description('create a deployment target (a docker host or a kubernetes namespace/cluster)')
    .argument('<name>', 'target name')
    .addOption(new Option('--type <type>', 'docker or kubernetes').choices(['docker', 'kubernetes']).makeOptionMandatory())
    .option('--namespace <namespace>', 'kubernetes: the namespace the agent deploys into')
    .addOption(new Option('--scope <scope>', 'kubernetes: what the agent may touch').choices(['namespace', 'cluster']))
    .option('--logs', 'stream deployment logs to the hub')
    .action(async (name: string, opts: { type: 'docker' | 'kubernetes'; namespace?: string; scope?: 'namespace' | 'cluster'; logs?: boolean }, cmd: Command) => {
      if (opts.type === 'kubernetes' && !opts.namespace) throw new UsageError('a kubernetes target needs --namespace');
      const target = await serviceFor(cmd).createDeploymentTarget({ name, type: opts.type, namespace: opts.namespace, scope: opts.scope, logsEnabled: opts.logs });
      if (globalsOf(cmd).json) return printJson(target);
      process.stdout.write(`created ${target.type} target ${target.name} (${target.id})\n`);
    });

  targets
    .command('access')
    .description("create (or rotate) the target's agent credential and print the command that installs the agent")
    .argument('<target>', 'target id or name')
    .action(async (targetRef: string, _opts, cmd: Command) => {
      const service = serviceFor(cmd);
      const target = await service.resolveDeploymentTarget(targetRef);
      const access = await service.createAccessForDeploymentTarget(target.id);
      if (globalsOf(cmd).json) return printJson(access);
      process.stdout.write(`${access.installCommand}\n`);
    });

  return targets;
}

interface DeployOptions {
  target: string;
  version: string;
  app?: string;
  composeType?: 'compose' | 'swarm';
  envFile?: string;
  release?: string;
  values?: string;
}

export function deployCommand(): Command {
  return new Command('deploy')
    .description('deploy a version to a target')
    .requiredOption('--target <target>', 'target id or name')
    .requiredOption('--version <version>', 'version id (or name, with --app)')
    .option('--app <app>', 'application id or name, to give --version by name')
    .addOption(new Option('--compose-type <type>', 'docker: compose or swarm').choices(['compose', 'swarm']))
    .option('--env-file <file>', 'docker: .env entries layered over the version template')
    .option('--release <name>', 'kubernetes: Helm release name')
    .option('--values <file>', 'kubernetes: values YAML merged over the version base values')
    .action(async (opts: DeployOptions, cmd: Command) => {
      const service = serviceFor(cmd);
      const target = await service.resolveDeploymentTarget(opts.target);
      const versionId = opts.app ? (await service.resolveVersion((await service.resolveApplication(opts.app)).id, opts.version)).id : opts.version;
      let deployment: Deployment;
      if (target.type === 'docker') {
        if (opts.release || opts.values) throw new UsageError(`${target.name} is a docker target: use --compose-type and --env-file, not --release/--values`);
        const envFile = await readFileOption(opts.envFile, '--env-file');
        deployment = await service.createDeployment({ targetId: target.id, application: { versionId }, dockerDeployment: { composeType: opts.composeType ?? 'compose', envFile } });
      } else {
        if (opts.composeType || opts.envFile) throw new UsageError(`${target.name} is a kubernetes target: use --release and --values, not --compose-type/--env-file`);
        if (!opts.release) throw new UsageError(`${target.name} is a kubernetes target: --release <name> is required`);
        const valuesYaml = await readFileOption(opts.values, '--values');
        deployment = await service.createDeployment({ targetId: target.id, application: { versionId }, kubernetesDeployment: { releaseName: opts.release, valuesYaml } });
      }
      if (globalsOf(cmd).json) return printJson(deployment);
      process.stdout.write(`deployed ${deployment.application.name} ${deployment.currentRevision.version.name} to ${deployment.deploymentTarget.name} (deployment ${deployment.id})\n`);
    });
}

export function updateCommand(): Command {
  return new Command('update')
    .description("switch a deployment's version and/or change its env file or values")
    .argument('<deployment>', 'deployment id')
    .option('--version <version>', 'version id or name (of the same application)')
    .option('--env-file <file>', 'docker: new .env entries')
    .option('--values <file>', 'kubernetes: new values YAML')
    .option('--dry-run', 'change nothing: print the diff of what the agent would receive (secrets redacted) and the checks')
    .option('--runtime', "with --dry-run: also ask the deployment's agent (docker compose config against the running project) and wait for its answer")
    .option('--runtime-wait <seconds>', 'with --runtime: how long the request waits for the agent (10-3600, default 600)', (v) => Number(v))
    .action(async (deploymentId: string, opts: { version?: string; envFile?: string; values?: string; dryRun?: boolean; runtime?: boolean; runtimeWait?: number }, cmd: Command) => {
      if (!opts.version && !opts.envFile && !opts.values) throw new UsageError('nothing to update: give --version, --env-file or --values');
      if (opts.runtime && !opts.dryRun) throw new UsageError('--runtime is a dry run: give --dry-run too');
      const service = serviceFor(cmd);
      const versionId = opts.version ? await versionOfDeployment(service, deploymentId, opts.version) : undefined;
      const envFile = await readFileOption(opts.envFile, '--env-file');
      const valuesYaml = await readFileOption(opts.values, '--values');
      if (opts.dryRun) {
        const json = globalsOf(cmd).json;
        const preview = await service.rollouts.previewUpdate(deploymentId, { versionId, envFile, valuesYaml });
        if (!opts.runtime) {
          if (json) printJson(preview);
          else printPreview(preview);
          if (!preview.ok) throw new FindingsWithErrors();
          return;
        }
        if (!json) printPreview(preview);
        const requested = await service.rollouts.requestRuntimePreview(deploymentId, { versionId, envFile, valuesYaml }, { expiresInSeconds: opts.runtimeWait });
        if (!json) process.stderr.write(`asked the agent of ${requested.target.name} for a runtime preview; waiting for ${requested.waitingFor}\n`);
        const runtime = await service.rollouts.waitForRuntimePreview(requested.id);
        if (json) printJson({ ...preview, runtimePreview: runtime });
        else printRuntimePreview(runtime);
        if (runtime.state !== 'done') throw new Error(`runtime preview ${runtime.id} ${runtime.state}${runtime.detail ? `: ${runtime.detail}` : ''}`);
        if (!preview.ok) throw new FindingsWithErrors();
        return;
      }
      const deployment = await service.updateDeployment({
        deploymentId,
        application: versionId ? { versionId } : undefined,
        dockerDeployment: envFile !== undefined ? { envFile } : undefined,
        kubernetesDeployment: valuesYaml !== undefined ? { valuesYaml } : undefined,
      });
      if (globalsOf(cmd).json) return printJson(deployment);
      process.stdout.write(`updated ${deployment.id}: ${deployment.application.name} ${deployment.currentRevision.version.name} (revision ${deployment.currentRevision.id})\n`);
    });
}

export function rolloutCommand(): Command {
  return new Command('rollout')
    .description('move every deployment of an application to a version, in one transaction')
    .argument('<app>', 'application id or name')
    .argument('<version>', 'version id or name')
    .action(async (appRef: string, versionRef: string, _opts, cmd: Command) => {
      const service = serviceFor(cmd);
      const app = await service.resolveApplication(appRef);
      const version = await service.resolveVersion(app.id, versionRef);
      const result = await service.updateAllDeployments(app.id, version.id);
      if (globalsOf(cmd).json) return printJson(result);
      process.stdout.write(`rolled out ${app.name} ${version.name} to ${result.count} deployment${result.count === 1 ? '' : 's'}\n`);
      if (result.count > 0) printDeployments(result.deployments);
    });
}

export function restartCommand(): Command {
  return new Command('restart')
    .description("restart a deployment's containers / workloads without changing them")
    .argument('<deployment>', 'deployment id')
    .action(async (deploymentId: string, _opts, cmd: Command) => {
      const deployment = await serviceFor(cmd).forceRestart(deploymentId);
      if (globalsOf(cmd).json) return printJson(deployment);
      process.stdout.write(`restart requested for ${deployment.id}\n`);
    });
}

export function undeployCommand(): Command {
  return new Command('undeploy')
    .description('delete a deployment (docker named volumes are kept unless --remove-volumes)')
    .argument('<deployment>', 'deployment id')
    .option('--remove-volumes', 'also remove docker named volumes')
    .action(async (deploymentId: string, opts: { removeVolumes?: boolean }, cmd: Command) => {
      await serviceFor(cmd).deleteDeployment(deploymentId, { removeVolumes: opts.removeVolumes });
      if (globalsOf(cmd).json) return printJson({ id: deploymentId, deleted: true });
      process.stdout.write(`deleted ${deploymentId}\n`);
    });
}

async function versionOfDeployment(service: DistrService, deploymentId: string, versionRef: string): Promise<string> {
  const deployment = await service.getDeployment(deploymentId);
  return (await service.resolveVersion(deployment.application.id, versionRef)).id;
}
