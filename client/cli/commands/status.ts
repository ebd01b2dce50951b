/** `distr status [deployment] [--watch]`: a table of deployments, then optionally their live status stream. */
import { Command, Option } from 'commander';
import type { DistrService } from '../../service.js';
import type { Deployment, DeploymentPhase } from '../../types.js';
import { globalsOf, serviceFor, UsageError } from '../context.js';
import { formatStatusEvent, printDeployments, printJson, printJsonLine, ProgressLine } from '../output.js';

interface StatusOptions {
  watch?: boolean;
  until?: DeploymentPhase;
}

export function statusCommand(): Command {
  return new Command('status')
    .description('show deployments with their latest status; --watch streams status changes as agents report them')
    .argument('[deployment]', 'only this deployment (id)')
    .option('--watch', 'keep running and print every status change (ctrl-c to stop)')
    .addOption(new Option('--until <phase>', 'with --watch and a deployment: exit once its current revision reaches this phase').choices(['running', 'healthy', 'progressing', 'error']))
    .addHelpText('after', '\nWith --json --watch, stdout is one JSON status event per line.')
    .action(async (deploymentId: string | undefined, opts: StatusOptions, cmd: Command) => {
      if (opts.until && !(opts.watch && deploymentId)) throw new UsageError('--until needs --watch and a deployment');
      const service = serviceFor(cmd);
      const json = Boolean(globalsOf(cmd).json);
      const deployments = deploymentId ? [await service.getDeployment(deploymentId)] : await service.listDeployments();
      if (opts.until && reached(deployments[0]!, opts.until)) {
        if (json) printJson(deployments);
        else printDeployments(deployments);
        return;
      }
      if (!opts.watch) return json ? printJson(deployments) : printDeployments(deployments);
      if (!json) printDeployments(deployments);
      await watch(service, deployments, deploymentId, opts.until, json);
    });
}

function reached(deployment: Deployment, phase: DeploymentPhase): boolean {
  return deployment.status?.phase === phase && deployment.status.revisionId === deployment.currentRevision.id;
}

async function watch(service: DistrService, deployments: Deployment[], deploymentId: string | undefined, until: DeploymentPhase | undefined, json: boolean): Promise<void> {
  const names = new Map(deployments.map((d) => [d.id, `${d.application.name}@${d.deploymentTarget.name}`]));
  const what = deploymentId ? names.get(deploymentId)! : 'all deployments';
  const progress = new ProgressLine(`connecting to ${service.hubUrl}…`);
  progress.start();
  const stream = service.watchDeploymentStatus(deploymentId, {
    onConnected: () => progress.start(`watching ${what} for status changes${until ? ` until ${until}` : ''} (ctrl-c to stop)`),
  });
  const stop = () => void stream.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for await (const event of stream) {
      if (json) printJsonLine(event);
      else progress.log(formatStatusEvent(event, names));
      // The event's revision may be older than the current one after an update: ask the hub.
      if (until && event.phase === until && reached(await service.getDeployment(event.deploymentId), until)) break;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    progress.stop();
    await stream.close();
  }
}
