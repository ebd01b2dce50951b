import { safeParse, type $ZodType, type infer as Infer } from 'zod/v4/core';

/** A process's configuration is invalid; the message lists every bad variable. */
export class ConfigError extends Error {}

/**
 * Parse environment variables with a zod schema (`zod` or `zod/mini`: both build on zod's core).
 * Empty values count as unset; all problems are reported together, each naming the variable and
 * the value it had. Shared by hub and agents.
 */
export function parseEnvironment<S extends $ZodType>(schema: S, source: NodeJS.ProcessEnv, what: string): Infer<S> {
  const raw = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ''));
  const result = safeParse(schema, raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '?');
    return `  ${key}=${JSON.stringify(source[key] ?? '')}: ${issue.message}`;
  });
  throw new ConfigError(`invalid ${what} configuration:\n${lines.join('\n')}`);
}
