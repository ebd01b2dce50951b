/**
 * The `distr` command tree and its exit codes: 0 ok, 1 the hub refused (typed error), 2 usage error,
 * 3 cannot reach the hub or the API key was refused.
 */
import { Command, CommanderError } from 'commander';
import { DistrError, DistrRequestError } from '../errors.js';
import { UsageError } from './context.js';
import { apiKeysCommand } from './commands/api-keys.js';
import { applicationsCommand, versionsCommand } from './commands/catalog.js';
import { deployCommand, restartCommand, targetsCommand, undeployCommand, updateCommand } from './commands/deployments.js';
import { statusCommand } from './commands/status.js';
import { FindingsWithErrors, validateCommand } from './commands/validate.js';
import { addTargetPlacementCommands, rollbackCommand, rolloutsCommand } from './commands/rollouts.js';
import { logsCommand } from './commands/logs.js';

function withPlacement(targets: Command): Command {
  addTargetPlacementCommands(targets);
  return targets;
}

export const EXIT = { ok: 0, refused: 1, usage: 2, connection: 3 } as const;
const CLI_VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('distr')
    .description('distr: ship applications to docker hosts and kubernetes clusters through a distr hub')
    .option('--hub <url>', 'hub URL (default: $DISTR_HUB_URL)')
    .option('--api-key <key>', 'API key (default: $DISTR_API_KEY)')
    .option('--json', 'print JSON instead of tables and messages')
    // Only -V: program options are recognised after subcommands too, and `deploy --version` means a version id.
    .version(CLI_VERSION, '-V', 'output the version number (also `distr --version` alone)')
    .showHelpAfterError('(add --help for usage)')
    // Throw instead of process.exit, so runCli picks the exit code; subcommands added later inherit this.
    .exitOverride();
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 the hub refused the request, 2 usage error, 3 hub unreachable or API key refused.\n' +
      'Applications and targets may be given by id or by name.',
  );
  for (const command of [applicationsCommand(), versionsCommand(), withPlacement(targetsCommand()), deployCommand(), updateCommand(), rolloutsCommand(), rollbackCommand(), statusCommand(), logsCommand(), restartCommand(), undeployCommand(), apiKeysCommand(), validateCommand()]) {
    program.addCommand(inheritSettings(command, program));
  }
  return program;
}

/** addCommand (unlike .command()) does not copy settings: apply exitOverride and help-after-error to the whole subtree. */
function inheritSettings(command: Command, parent: Command): Command {
  command.copyInheritedSettings(parent);
  for (const sub of command.commands) inheritSettings(sub, command);
  return command;
}

/** Run the CLI on `argv` (as process.argv: node, script, args…) and return the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    const program = buildProgram();
    if (argv.length === 3 && argv[2] === '--version') {
      process.stdout.write(`${CLI_VERSION}\n`);
      return EXIT.ok;
    }
    if (argv.length <= 2) {
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander printed its message (or the help) already.
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage;
  }
  // `distr validate` printed its findings; one of them is an error.
  if (err instanceof FindingsWithErrors) return EXIT.refused;
  const message = (err as Error)?.message ?? String(err);
  process.stderr.write(`error: ${message}\n`);
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof DistrError) return EXIT.refused;
  if (err instanceof DistrRequestError) return err.isAuthFailure || err.code === 'NETWORK' ? EXIT.connection : EXIT.refused;
  if (process.env.DISTR_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  return EXIT.refused;
}
