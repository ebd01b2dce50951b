import { spawn } from 'node:child_process';

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

/** How long a cancelled command gets after SIGTERM before SIGKILL. */
const FORCE_KILL_AFTER_MS = 5_000;

/**
 * Runs one docker CLI command. A failure becomes an Error carrying docker's own stderr, which the
 * agent core reports as the deployment's status message. node:child_process directly (no execa):
 * the docker agent runs this on every apply, and a smaller agent forks faster.
 */
export async function runCli(run: CliRun): Promise<string> {
  const [file, ...prefix] = run.command;
  if (!file) throw new Error('empty docker command');
  const args = [...prefix, ...run.args];
  run.signal?.throwIfAborted();
  // process.hrtime, not performance.now(): the `performance` global loads perf_hooks (+0.7 MiB RSS).
  const started = process.hrtime.bigint();
  const commandLine = [file, ...args].join(' ');
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; cancelled: boolean; spawnError: Error | null }>((resolve) => {
    const child = spawn(file, args, { cwd: run.cwd, env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    let cancelled = false;
    let spawnError: Error | null = null;
    let forceKill: NodeJS.Timeout | undefined;
    const onAbort = () => {
      cancelled = true;
      child.kill('SIGTERM');
      forceKill = setTimeout(() => child.kill('SIGKILL'), FORCE_KILL_AFTER_MS);
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (error) => {
      spawnError = error;
    });
    child.once('close', (code, signal) => {
      run.signal?.removeEventListener('abort', onAbort);
      clearTimeout(forceKill);
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), cancelled, spawnError });
    });
  });
  if (result.cancelled) throw new Error(`${run.what} cancelled`);
  const stderr = result.stderr.trim();
  if (result.spawnError || result.code !== 0) {
    const text =
      stderr ||
      result.stdout.trim() ||
      (result.spawnError
        ? `${commandLine}: ${result.spawnError.message}`
        : `Command ${result.signal ? `was killed with ${result.signal}` : `failed with exit code ${result.code}`}: ${commandLine}`);
    throw new Error(`${run.what} failed: ${text}`);
  }
  run.logger.debug({ command: commandLine, ms: Number((process.hrtime.bigint() - started) / 1_000_000n), ...(stderr ? { stderr } : {}) }, `${run.what} done`);
  return result.stdout.replace(/\r?\n$/, '');
}
