/** What every command needs: the global options, a DistrService built from them, files, usage errors. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DistrService } from '../service.js';

export interface GlobalOptions {
  hub?: string;
  apiKey?: string;
  json?: boolean;
}

/** Wrong invocation: exit code 2, like commander's own parse errors. */
export class UsageError extends Error {}

export function globalsOf(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/** Flags win over the environment (DISTR_HUB_URL / DISTR_API_KEY). */
export function serviceFor(command: Command): DistrService {
  const { hub, apiKey } = globalsOf(command);
  const hubUrl = hub ?? process.env.DISTR_HUB_URL;
  const key = apiKey ?? process.env.DISTR_API_KEY;
  if (!hubUrl) throw new UsageError('no hub URL: set DISTR_HUB_URL or pass --hub <url>');
  if (!key) throw new UsageError('no API key: set DISTR_API_KEY or pass --api-key <key>');
  return new DistrService({ hubUrl, apiKey: key });
}

/** The file's text, or a usage error naming the option. */
export async function readFileOption(path: string | undefined, option: string): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${option}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
