/**
 * `distr rollout create|preview|status|start|pause|resume|abort|retry|rollback`, `distr rollback`, and
 * `distr targets label|windows`: staged rollouts and what they select by. `distr rollout <app>
 * <version>` (every deployment at once) stays the default subcommand.
 */
import { Command, Option } from 'commander';
import type { Rollout, RolloutProgress } from '../../rollouts.js';
import type { DistrService } from '../../service.js';
import { globalsOf, serviceFor, UsageError } from '../context.js';
import { printJson, printJsonLine, printPreview, printTable, ProgressLine } from '../output.js';
import { rolloutCommand as allAtOnceCommand } from './deployments.js';
import { FindingsWithErrors } from './validate.js';

interface CreateOptions {
  selector?: string;
  deployments?: string;
  all?: boolean;
  canary?: string;
  wave?: string[];
  soak?: string;
  deadline?: string;
  maxFailed?: string;
  maxUpdating?: string;
  rollbackOnFailure?: boolean;
  start?: boolean;
}

function int(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${option}: "${value}" is not a whole number`);
  return Number(value);
}

/** `--wave 10` (a count) or `--wave 25%` (a percentage of the plan). */
function wave(value: string): { count?: number; percent?: number } {
  const m = /^(\d+)(%?)$/.exec(value.trim());
  if (!m) throw new UsageError(`--wave: "${value}" is neither a count (10) nor a percentage (25%)`);
  return m[2] ? { percent: Number(m[1]) } : { count: Number(m[1]) };
}

export function rolloutsCommand(): Command {
  const group = new Command('rollout').description('staged rollouts of a version, wave by wave behind health gates (`rollout <app> <version>`: every deployment at once)');

  withPlanOptions(group.command('create').description('plan a staged rollout: a canary wave, further waves by count or percentage, a health gate with soak time'))
    .option('--start', 'start at once (default: pending until `distr rollout start`)')
    .action(async (appRef: string, versionRef: string, opts: CreateOptions, cmd: Command) => {
      const { service, app, version, request } = await planRequest(cmd, appRef, versionRef, opts);
      const rollout = await service.rollouts.create({ ...request, start: opts.start });
      if (globalsOf(cmd).json) return printJson(rollout);
      process.stdout.write(`created rollout ${rollout.id}: ${app.name} ${version.name} to ${rollout.members.length} deployments in ${rollout.waveCount} waves (${rollout.waves.map((w) => w.size).join(', ')}), ${rollout.state}\n`);
    });

  withPlanOptions(group.command('preview').description('dry run of `rollout create`: per deployment, the diff of what its agent would receive (secrets redacted) and the checks; writes nothing'))
    .action(async (appRef: string, versionRef: string, opts: CreateOptions, cmd: Command) => {
      const { service, app, version, request } = await planRequest(cmd, appRef, versionRef, opts);
      const preview = await service.rollouts.preview(request);
      if (globalsOf(cmd).json) printJson(preview);
      else process.stdout.write(`rollout of ${app.name} ${version.name}: ${preview.deployments.length} deployments in ${preview.waveSizes.length} waves (${preview.waveSizes.join(', ')})${preview.ok ? '' : '; some have errors'}\n`);
      if (!globalsOf(cmd).json) for (const d of preview.deployments) printPreview(d);
      // Exit 1 when a deployment has an error finding, as `distr validate`.
      if (!preview.ok) throw new FindingsWithErrors();
    });

  group
    .command('status')
    .description('show a rollout (or list them): waves, who waits for what, the halting reason; --watch follows it live')
    .argument('[rollout]', 'rollout id (all rollouts when omitted)')
    .option('--watch', 'keep printing each change until the rollout completes or is aborted (ctrl-c to stop)')
    .action(async (id: string | undefined, opts: { watch?: boolean }, cmd: Command) => {
      const service = serviceFor(cmd);
      const json = Boolean(globalsOf(cmd).json);
      if (!id) {
        if (opts.watch) throw new UsageError('--watch needs a rollout id');
        const list = await service.rollouts.list();
        if (json) return printJson(list);
        return printTable(['ROLLOUT', 'APPLICATION', 'VERSION', 'STATE', 'WAVE', 'CREATED'], list.map((r) => [r.id, r.application.name, r.version.name, r.state, `${r.currentWave + 1}/${r.waveCount}`, r.createdAt]));
      }
      const rollout = await service.rollouts.get(id);
      if (json && !opts.watch) return printJson(rollout);
      if (!json) printRollout(rollout);
      if (opts.watch) await watch(service, id, json);
    });

  const action = (name: 'start' | 'pause' | 'resume' | 'abort' | 'retry', description: string) =>
    group
      .command(name)
      .description(description)
      .argument('<rollout>', 'rollout id')
      .action(async (id: string, _opts, cmd: Command) => {
        const rollout = await serviceFor(cmd).rollouts[name](id);
        if (globalsOf(cmd).json) return printJson(rollout);
        process.stdout.write(`rollout ${rollout.id} is ${rollout.state} (wave ${rollout.currentWave + 1} of ${rollout.waveCount})\n`);
      });
  action('start', 'start a pending rollout');
  action('pause', 'stop moving further deployments (those being updated finish)');
  action('resume', 'go on with a paused rollout');
  action('abort', 'stop a rollout for good (moved deployments stay; see `rollout rollback`)');
  action('retry', "retry a halted rollout's wave");

  group
    .command('rollback')
    .description('roll every deployment the rollout moved back to its revision before the rollout')
    .argument('<rollout>', 'rollout id')
    .action(async (id: string, _opts, cmd: Command) => {
      const rollout = await serviceFor(cmd).rollouts.rollBack(id);
      if (globalsOf(cmd).json) return printJson(rollout);
      process.stdout.write(`rolled back ${rollout.members.filter((m) => m.state === 'rolled_back').length} deployment(s) of rollout ${rollout.id} (${rollout.state})\n`);
    });

  group.addCommand(allAtOnceCommand().name('all'), { isDefault: true });
  return group;
}

/** The options `rollout create` and `rollout preview` share: which deployments, and the strategy. */
function withPlanOptions(command: Command): Command {
  return command
    .argument('<app>', 'application id or name')
    .argument('<version>', 'version id or name')
    .option('--selector <selector>', 'deployments on targets matching a label selector, e.g. "region=eu,tier in (gold,silver)"')
    .option('--deployments <ids>', 'these deployments (comma separated ids)')
    .option('--all', 'every deployment of the application')
    .option('--canary <n>', 'deployments in the canary wave (default 1)')
    .option('--wave <size...>', 'a further wave: a count (10) or a percentage (25%); repeat for more; the rest forms a last wave')
    .option('--soak <seconds>', 'each deployment must stay healthy this long before its wave passes (default 0)')
    .option('--deadline <seconds>', 'a deployment not healthy within this long fails (default 600)')
    .option('--max-failed <n>', 'failed deployments tolerated before halting (default 0)')
    .option('--max-updating <n>', 'deployments being updated at once (default: a whole wave)')
    .option('--rollback-on-failure', "halt and roll the failed wave's deployments back");
}

async function planRequest(cmd: Command, appRef: string, versionRef: string, opts: CreateOptions) {
  const chosen = [opts.selector !== undefined, opts.deployments !== undefined, opts.all === true].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('choose the deployments with exactly one of --selector, --deployments or --all');
  const service = serviceFor(cmd);
  const app = await service.resolveApplication(appRef);
  const version = await service.resolveVersion(app.id, versionRef);
  const request = {
    applicationId: app.id,
    versionId: version.id,
    selector: opts.selector,
    deploymentIds: opts.deployments?.split(',').map((s) => s.trim()).filter(Boolean),
    all: opts.all,
    strategy: {
      canary: int('--canary', opts.canary),
      waves: opts.wave?.map(wave),
      soakSeconds: int('--soak', opts.soak),
      progressDeadlineSeconds: int('--deadline', opts.deadline),
      maxFailed: int('--max-failed', opts.maxFailed),
      maxUpdating: int('--max-updating', opts.maxUpdating),
      onFailure: opts.rollbackOnFailure ? ('halt_and_rollback' as const) : ('halt' as const),
    },
  };
  return { service, app, version, request };
}

export function printRollout(r: Rollout): void {
  process.stdout.write(`rollout ${r.id}: ${r.application.name} ${r.version.name}, ${r.state}, wave ${r.currentWave + 1} of ${r.waveCount}\n`);
  if (r.haltReason) process.stdout.write(`halted: ${r.haltReason}\n`);
  printTable(
    ['WAVE', 'TARGET', 'DEPLOYMENT', 'STATE', 'WAITING FOR', 'MESSAGE'],
    r.members.map((m) => [String(m.wave), m.target.name, m.deploymentId, m.state, m.waitingFor, m.message]),
  );
}

function progressLine(r: RolloutProgress): string {
  const waves = r.waves.map((w) => `${w.index}:${w.state}${w.state === 'running' ? ` ${JSON.stringify(w.counts)}` : ''}`).join(' ');
  return `${new Date().toISOString()}  ${r.state}  wave ${r.currentWave + 1}/${r.waveCount}  ${waves}${r.haltReason ? `  halted: ${r.haltReason}` : ''}`;
}

async function watch(service: DistrService, id: string, json: boolean): Promise<void> {
  const progress = new ProgressLine(`connecting to ${service.hubUrl}…`);
  if (!json) progress.start();
  const stream = service.rollouts.watch(id, { onConnected: () => !json && progress.start(`watching rollout ${id} (ctrl-c to stop)`) });
  const stop = () => void stream.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for await (const r of stream) {
      if (json) printJsonLine(r);
      else progress.log(progressLine(r));
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    progress.stop();
    await stream.close();
  }
}

export function rollbackCommand(): Command {
  return new Command('rollback')
    .description("make a deployment's previous revision (or --to an earlier one) current again, as a new revision")
    .argument('<deployment>', 'deployment id')
    .option('--to <revision>', 'the revision to return to (default: the newest earlier one with different content)')
    .action(async (deploymentId: string, opts: { to?: string }, cmd: Command) => {
      const d = await serviceFor(cmd).rollouts.rollbackDeployment(deploymentId, opts.to);
      if (globalsOf(cmd).json) return printJson(d);
      process.stdout.write(`rolled back ${d.id}: ${d.application.name} ${d.currentRevision.version.name} (revision ${d.currentRevision.id})\n`);
    });
}

/** `targets label <target> k=v … [-k]` and `targets windows <target> …`, added to `distr targets`. */
export function addTargetPlacementCommands(targets: Command): void {
  targets
    .command('label')
    .description("replace a target's labels (key=value …; none removes all)")
    .argument('<target>', 'target id or name')
    .argument('[labels...]', 'key=value pairs')
    .action(async (ref: string, pairs: string[], _opts, cmd: Command) => {
      const labels: Record<string, string> = {};
      for (const p of pairs) {
        const i = p.indexOf('=');
        if (i <= 0) throw new UsageError(`"${p}" is not key=value`);
        labels[p.slice(0, i)] = p.slice(i + 1);
      }
      const service = serviceFor(cmd);
      const target = await service.resolveDeploymentTarget(ref);
      const updated = await service.rollouts.setTargetLabels(target.id, labels);
      if (globalsOf(cmd).json) return printJson(updated);
      process.stdout.write(`${target.name}: ${updated.labels.map((l) => `${l.key}=${l.value}`).join(',') || '(no labels)'}\n`);
    });

  targets
    .command('windows')
    .description('replace a target\'s maintenance windows, e.g. "sat,sun 22:00-04:00" (none: updates any time)')
    .argument('<target>', 'target id or name')
    .argument('[windows...]', 'DAYS HH:MM-HH:MM, days comma separated (mon … sun)')
    .addOption(new Option('--time-zone <zone>', 'IANA time zone the windows are read in (e.g. Europe/Berlin)'))
    .action(async (ref: string, specs: string[], opts: { timeZone?: string }, cmd: Command) => {
      const windows = [];
      for (let i = 0; i < specs.length; i += 2) {
        const days = specs[i]!.split(',') as never[];
        const range = /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec(specs[i + 1] ?? '');
        if (!range) throw new UsageError(`window "${specs.slice(i, i + 2).join(' ')}": give DAYS HH:MM-HH:MM`);
        windows.push({ days, start: range[1]!, end: range[2]! });
      }
      const service = serviceFor(cmd);
      const target = await service.resolveDeploymentTarget(ref);
      const updated = await service.rollouts.setMaintenanceWindows(target.id, windows, opts.timeZone);
      if (globalsOf(cmd).json) return printJson(updated);
      const text = updated.maintenanceWindows.map((w) => `${w.days.join(',')} ${w.start}-${w.end}`).join('; ');
      process.stdout.write(`${target.name}: ${text || 'updates any time'} (${updated.timeZone})\n`);
    });

  targets
    .command('select')
    .description('list the targets a label selector matches')
    .argument('<selector>', 'e.g. "region=eu,tier in (gold,silver),!legacy"')
    .action(async (selector: string, _opts, cmd: Command) => {
      const list = await serviceFor(cmd).rollouts.targetsMatching(selector);
      if (globalsOf(cmd).json) return printJson(list);
      printTable(['ID', 'NAME', 'TYPE', 'LABELS'], list.map((t) => [t.id, t.name, t.type, t.labels.map((l) => `${l.key}=${l.value}`).join(',')]));
    });
}
