/** `distr applications …` and `distr versions …`: what a vendor ships. */
import { Command, Option } from 'commander';
import { DistrNotFoundError } from '../../errors.js';
import type { ApplicationVersion } from '../../types.js';
import { globalsOf, readFileOption, serviceFor, UsageError } from '../context.js';
import { printJson, printTable } from '../output.js';

export function applicationsCommand(): Command {
  const applications = new Command('applications').alias('apps').description('list and create applications');

  applications
    .command('list')
    .alias('ls')
    .description('list the applications of your organization')
    .action(async (_opts, cmd: Command) => {
      const apps = await serviceFor(cmd).listApplications();
      if (globalsOf(cmd).json) return printJson(apps);
      printTable(['ID', 'NAME', 'TYPE', 'CREATED'], apps.map((a) => [a.id, a.name, a.type, a.createdAt]));
    });

  applications
    .command('create')
    .description('create an application (its type is fixed from then on)')
    .argument('<name>', 'application name, unique in your organization')
    .addOption(new Option('--type <type>', 'what it deploys as').choices(['docker', 'kubernetes']).makeOptionMandatory())
    .action(async (name: string, opts: { type: 'docker' | 'kubernetes' }, cmd: Command) => {
      const app = await serviceFor(cmd).createApplication({ name, type: opts.type });
      if (globalsOf(cmd).json) return printJson(app);
      process.stdout.write(`created ${app.type} application ${app.name} (${app.id})\n`);
    });

  return applications;
}

interface VersionCreateOptions {
  compose?: string;
  envTemplate?: string;
  chartType?: 'oci' | 'repository';
  chartUrl?: string;
  chartName?: string;
  chartVersion?: string;
  baseValues?: string;
  valuesTemplate?: string;
}

export function versionsCommand(): Command {
  const versions = new Command('versions').description('create, list and pick application versions');

  versions
    .command('create')
    .description('create a version: a compose file (docker) or a Helm chart reference (kubernetes)')
    .argument('<app>', 'application id or name')
    .argument('<name>', 'version name, e.g. 1.4.2 or a git tag')
    .option('--compose <file>', 'docker: the compose file')
    .option('--env-template <file>', 'docker: .env template with defaults deployments may override')
    .addOption(new Option('--chart-type <type>', 'kubernetes: where the chart lives').choices(['oci', 'repository']))
    .option('--chart-url <url>', 'kubernetes: oci://registry/repo/chart or the chart repository URL')
    .option('--chart-name <name>', 'kubernetes: chart name (repository charts)')
    .option('--chart-version <version>', 'kubernetes: chart version')
    .option('--base-values <file>', 'kubernetes: values YAML every deployment starts from')
    .option('--values-template <file>', 'kubernetes: values YAML offered to deployments as a starting point')
    .addHelpText('after', '\nExamples:\n  distr versions create shop 1.4.2 --compose compose.yaml --env-template .env.template\n  distr versions create shop-k8s 1.4.2 --chart-type oci --chart-url oci://ghcr.io/acme/charts/shop --chart-version 1.4.2')
    .action(async (appRef: string, name: string, opts: VersionCreateOptions, cmd: Command) => {
      const docker = opts.compose !== undefined;
      const kubernetes = opts.chartType !== undefined || opts.chartUrl !== undefined || opts.chartVersion !== undefined;
      if (docker === kubernetes) throw new UsageError('give either --compose FILE (docker) or --chart-type, --chart-url and --chart-version (kubernetes)');
      const service = serviceFor(cmd);
      const app = await service.resolveApplication(appRef);
      let version: ApplicationVersion;
      if (docker) {
        const composeFile = (await readFileOption(opts.compose, '--compose'))!;
        const envTemplate = await readFileOption(opts.envTemplate, '--env-template');
        version = await service.createDockerApplicationVersion(app.id, name, { composeFile, envTemplate });
      } else {
        if (!opts.chartType || !opts.chartUrl || !opts.chartVersion) throw new UsageError('a chart version needs --chart-type, --chart-url and --chart-version');
        version = await service.createKubernetesApplicationVersion(app.id, name, {
          chartType: opts.chartType,
          chartUrl: opts.chartUrl,
          chartName: opts.chartName,
          chartVersion: opts.chartVersion,
          baseValues: await readFileOption(opts.baseValues, '--base-values'),
          valuesTemplate: await readFileOption(opts.valuesTemplate, '--values-template'),
        });
      }
      if (globalsOf(cmd).json) return printJson(version);
      process.stdout.write(`created version ${version.name} of ${app.name} (${version.id})\n`);
    });

  versions
    .command('list')
    .alias('ls')
    .description("list an application's versions, oldest first")
    .argument('<app>', 'application id or name')
    .action(async (appRef: string, _opts, cmd: Command) => {
      const service = serviceFor(cmd);
      const app = await service.getApplication((await service.resolveApplication(appRef)).id);
      if (globalsOf(cmd).json) return printJson(app.versions);
      printTable(['ID', 'NAME', 'CREATED', 'ARCHIVED'], app.versions.map((v) => [v.id, v.name, v.createdAt, v.archivedAt]));
    });

  versions
    .command('latest')
    .description('the latest non-archived version')
    .argument('<app>', 'application id or name')
    .addOption(new Option('--order <order>', 'highest semantic version, or newest').choices(['semver', 'chronological']).default('semver'))
    .action(async (appRef: string, opts: { order: 'semver' | 'chronological' }, cmd: Command) => {
      const service = serviceFor(cmd);
      const app = await service.resolveApplication(appRef);
      const latest = await service.getLatestVersion(app.id, opts.order);
      if (globalsOf(cmd).json) return printJson(latest);
      if (!latest) throw new DistrNotFoundError(`${app.name} has no ${opts.order === 'semver' ? 'semantic-versioned ' : ''}non-archived version`, 'application version', app.id);
      process.stdout.write(`${latest.name}\t${latest.id}\n`);
    });

  return versions;
}
