import { execa, ExecaError } from 'execa';

/** Minimal logger shape; a pino logger fits. */
export interface DriverLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export const silentLogger: DriverLogger = { debug() {}, info() {}, warn() {} };

/**
 * Variables of the agent's own environment that docker CLI calls may see. Everything else is
 * left out on purpose: compose interpolates the process environment over the .env file, so the
 * agent's variables (its hub secret among them) must not leak into a vendor's compose file.
 */
const PASSED_THROUGH = /^(PATH|HOME|TMPDIR|LANG|LC_ALL|DOCKER_(?!CONFIG$).*)$/;

export function cliEnvironment(options: {
  dockerConfigDir: string;
  dockerHost: string | null;
  extra?: Record<string, string>;
}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && PASSED_THROUGH.test(key)) env[key] = value;
  }
  Object.assign(env, options.extra ?? {});
  // Set last so a .env file cannot redirect the CLI to another engine or credential store.
  env.DOCKER_CONFIG = options.dockerConfigDir;
  if (options.dockerHost) env.DOCKER_HOST = options.dockerHost;
  return env;
}

export interface CliRun {
  /** What is being done, for error messages: "docker compose up". */
  what: string;
  command: readonly string[];
  args: readonly string[];
  cwd: string;
  env: Record<string, string>;
  signal?: AbortSignal;
  logger: DriverLogger;
}

/**
 * Runs one docker CLI command. A failure becomes an Error carrying docker's own stderr, which the
 * agent core reports as the deployment's status message.
 */
export async function runCli(run: CliRun): Promise<string> {
  const [file, ...prefix] = run.command;
  if (!file) throw new Error('empty docker command');
  const args = [...prefix, ...run.args];
  run.signal?.throwIfAborted();
  const started = performance.now();
  try {
    const result = await execa(file, args, {
      cwd: run.cwd,
      env: run.env,
      extendEnv: false,
      stdin: 'ignore',
      cancelSignal: run.signal,
      forceKillAfterDelay: 5_000,
    });
    const stderr = result.stderr.trim();
    run.logger.debug(
      { command: [file, ...args].join(' '), ms: Math.round(performance.now() - started), ...(stderr ? { stderr } : {}) },
      `${run.what} done`,
    );
    return result.stdout;
  } catch (error) {
    if (error instanceof ExecaError) {
      if (error.isCanceled) throw new Error(`${run.what} cancelled`, { cause: error });
      const stderr = String(error.stderr ?? '').trim();
      const stdout = String(error.stdout ?? '').trim();
      const text = stderr || stdout || error.shortMessage;
      throw new Error(`${run.what} failed: ${text}`, { cause: error });
    }
    throw error;
  }
}
