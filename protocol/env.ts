import type { z } from 'zod';

/** A process's configuration is invalid; the message lists every bad variable. */
export class ConfigError extends Error {}

/**
 * Parse environment variables with a zod schema. Empty values count as unset; all problems are
 * reported together, each naming the variable and the value it had. Shared by hub and agents.
 */
export function parseEnvironment<S extends z.ZodType>(schema: S, source: NodeJS.ProcessEnv, what: string): z.infer<S> {
  const raw = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ''));
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '?');
    return `  ${key}=${JSON.stringify(source[key] ?? '')}: ${issue.message}`;
  });
  throw new ConfigError(`invalid ${what} configuration:\n${lines.join('\n')}`);
}
