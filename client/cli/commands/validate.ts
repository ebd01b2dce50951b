/**
 * `distr validate`: the hub's checks as a command, for CI before a release and for
 * troubleshooting. Exit code 0 when no finding is an error, 1 when one is.
 */
import { Command, Option } from 'commander';
import type { ValidationResult } from '../../types.js';
import { globalsOf, readFileOption, serviceFor, UsageError } from '../context.js';
import { printJson } from '../output.js';

/** Thrown to make runCli exit 1 after the findings were printed. */
export class FindingsWithErrors extends Error {
  constructor() {
    super('validation found errors');
  }
}

function report(result: ValidationResult, json: boolean): void {
  if (json) printJson(result);
  else if (result.findings.length === 0) process.stdout.write('ok: no findings\n');
  else {
    for (const f of result.findings) {
      process.stdout.write(`${f.severity.padEnd(7)} ${f.field}${f.path ? ` ${f.path}` : ''}: ${f.message}\n`);
      if (f.hint) process.stdout.write(`        hint: ${f.hint}\n`);
    }
  }
  if (!result.ok) throw new FindingsWithErrors();
}

interface VersionOptions {
  compose?: string;
  envTemplate?: string;
  chartType?: 'oci' | 'repository';
  chartUrl?: string;
  chartName?: string;
  chartVersion?: string;
  baseValues?: string;
  valuesTemplate?: string;
}

export function validateCommand(): Command {
  const validate = new Command('validate').description('run the hub\'s checks without creating anything (exit 0: no errors, 1: errors found)');

  validate
    .command('version')
    .description('check a version before creating it: compose file and env template, or chart reference and values')
    .argument('<app>', 'application id or name')
    .option('--compose <file>', 'docker: the compose file')
    .option('--env-template <file>', 'docker: the .env template')
    .addOption(new Option('--chart-type <type>', 'kubernetes: where the chart lives').choices(['oci', 'repository']))
    .option('--chart-url <url>', 'kubernetes: oci://registry/repo/chart or the chart repository URL')
    .option('--chart-name <name>', 'kubernetes: chart name (repository charts)')
    .option('--chart-version <version>', 'kubernetes: chart version')
    .option('--base-values <file>', 'kubernetes: base values YAML')
    .option('--values-template <file>', 'kubernetes: values template YAML')
    .action(async (appRef: string, opts: VersionOptions, cmd: Command) => {
      const docker = opts.compose !== undefined;
      const kubernetes = opts.chartType !== undefined || opts.chartUrl !== undefined || opts.chartVersion !== undefined;
      if (docker === kubernetes) throw new UsageError('give either --compose FILE (docker) or --chart-type, --chart-url and --chart-version (kubernetes)');
      const service = serviceFor(cmd);
      const app = await service.resolveApplication(appRef);
      let result: ValidationResult;
      if (docker) {
        result = await service.validateApplicationVersion(app.id, {
          composeFile: (await readFileOption(opts.compose, '--compose'))!,
          envTemplate: await readFileOption(opts.envTemplate, '--env-template'),
        });
      } else {
        if (!opts.chartType || !opts.chartUrl || !opts.chartVersion) throw new UsageError('a chart version needs --chart-type, --chart-url and --chart-version');
        result = await service.validateApplicationVersion(app.id, {
          chartType: opts.chartType,
          chartUrl: opts.chartUrl,
          chartName: opts.chartName,
          chartVersion: opts.chartVersion,
          baseValues: await readFileOption(opts.baseValues, '--base-values'),
          valuesTemplate: await readFileOption(opts.valuesTemplate, '--values-template'),
        });
      }
      report(result, Boolean(globalsOf(cmd).json));
    });

  validate
    .command('deployment')
    .description("check an existing deployment's current configuration against its version (troubleshooting)")
    .argument('<deployment>', 'deployment id')
    .action(async (id: string, _opts, cmd: Command) => {
      report(await serviceFor(cmd).checkDeployment(id), Boolean(globalsOf(cmd).json));
    });

  return validate;
}
