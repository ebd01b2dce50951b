/** `distr logs <deployment> [-f]`: the deployment's recent log lines; with -f, then every new line as it is stored. */
import { Command, InvalidArgumentError } from 'commander';
import type { DeploymentLogLine } from '../../types.js';
import { globalsOf, serviceFor } from '../context.js';
import { printJsonLine } from '../output.js';

interface LogsOptions {
  follow?: boolean;
  tail: number;
  resource?: string;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 1000) throw new InvalidArgumentError('must be a whole number from 0 to 1000');
  return n;
}

function format(line: DeploymentLogLine): string {
  return `${line.timestamp} ${line.resource} ${line.stream === 'stderr' ? '!' : '|'} ${line.line}`;
}

export function logsCommand(): Command {
  return new Command('logs')
    .description("print a deployment's log lines as its agent pushes them (logs must be enabled on the target)")
    .argument('<deployment>', 'deployment id')
    .option('-f, --follow', 'keep running and print each new line as it arrives (ctrl-c to stop)')
    .option('-n, --tail <lines>', 'recent lines to print first (0 to 1000)', count, 100)
    .option('--resource <name>', 'only lines of this resource (compose service, or pod/container)')
    .addHelpText('after', '\nWith --json, stdout is one JSON object per line: {id, resource, stream, timestamp, line}.')
    .action(async (deploymentId: string, opts: LogsOptions, cmd: Command) => {
      const service = serviceFor(cmd);
      const json = Boolean(globalsOf(cmd).json);
      const print = (line: DeploymentLogLine) => (json ? printJsonLine(line) : process.stdout.write(`${format(line)}\n`));
      if (!opts.follow) {
        const lines = await service.deploymentLogs(deploymentId, { limit: Math.max(opts.tail, 1) });
        for (const line of opts.tail === 0 ? [] : lines) if (!opts.resource || line.resource === opts.resource) print(line);
        return;
      }
      await service.getDeployment(deploymentId); // a clear "not found" before the socket opens
      const stream = service.followDeploymentLogs(deploymentId, { tail: opts.tail, resource: opts.resource });
      const stop = () => void stream.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        for await (const line of stream) print(line);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await stream.close();
      }
    });
}
