import { execa, type ResultPromise } from 'execa';
import { repoRoot } from './hub.js';
import { Changes, WAIT_BOUND_MS } from './changes.js';

export interface AgentProcess {
  process: ResultPromise;
  output(): string;
  /** Resolves once `check(output)` holds, re-checked at each chunk of output (a log line waited for); rejects if the agent exits first. */
  untilOutput(check: (output: string) => boolean, what: string): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL at once (a crash). */
  kill(): Promise<void>;
}

/**
 * The real agent as its own process: the sources (`node --import tsx agent/main.ts`), or with
 * `bundle` a compiled agent (scripts/build-agent.ts) run by plain node, `nodeArgs` before it.
 */
export function spawnAgent(env: Record<string, string>, opts: { bundle?: string; nodeArgs?: string[] } = {}): AgentProcess {
  let out = '';
  const entry = opts.bundle ? [opts.bundle] : ['--import', 'tsx', 'agent/main.ts'];
  const child = execa(process.execPath, [...(opts.nodeArgs ?? []), ...entry], {
    cwd: repoRoot,
    env: { LOG_LEVEL: 'debug', DISTR_OBSERVE_INTERVAL_SECONDS: '0.3', DISTR_RETRY_MAX_SECONDS: '2', ...env },
    reject: false,
    all: true,
  });
  const changes = new Changes();
  child.all!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    changes.changed();
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`agent exited (${code ?? signal})`))));
  exited.catch(() => {});
  return {
    process: child,
    output: () => out,
    untilOutput: async (check, what) => {
      await Promise.race([changes.until(() => check(out), what), exited]).catch((err: Error) => {
        throw new Error(`${err.message} while waiting for ${what}\n--- agent output ---\n${out.slice(-6000)}`);
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await child;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await child;
    },
  };
}

/**
 * Poll until `check` returns a truthy value (never a timed assertion). Fails with the last value
 * or error and `onFail()`'s text; fails at once when `stopReason()` names a reason (e.g. the
 * agent process exited), rather than waiting out the timeout.
 */
export async function eventually<T>(
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  what: string,
  timeoutMs = WAIT_BOUND_MS,
  onFail?: () => string,
  stopReason?: () => string | null,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const stop = stopReason?.();
    if (stop) throw new Error(`${stop} while waiting for ${what}${onFail ? `\n${onFail()}` : ''}`);
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}${onFail ? `\n${onFail()}` : ''}`);
}
