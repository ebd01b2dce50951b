import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Field names whose values are secrets wherever they appear in a log object (one or two levels
 * deep): pino replaces them with "[redacted]" before a line is written.
 */
const SECRET_FIELDS = ['secret', 'token', 'password', 'authorization', 'apiKey', 'envFile', 'envTemplate', 'valuesYaml', 'values', 'connectionString', 'databaseUrl', 'DATABASE_URL'];
const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

/** SQLSTATE codes are five characters of digits and upper-case letters. */
const SQLSTATE = /^[0-9A-Z]{5}$/;
/** knex prefixes a failing statement, bound values inlined, to the driver's message: `<sql> - <message>`. */
const SQL_PREFIX = /^\s*(insert|update|delete|select|with|merge|copy|alter|create|drop)\b[\s\S]* - /i;

/**
 * What a log line keeps of an error. The one place that keeps secrets out of logs: a database
 * error's message carries the failing SQL with its bound values (and PostgreSQL's `detail` the
 * whole failing row), so for those only the SQLSTATE, the constraint/table/column names and the
 * server's short message without the statement are kept. Any other error keeps its message, and
 * its stack without the message line.
 */
export function serializeError(err: unknown): unknown {
  if (typeof err === 'string') return err.replace(SQL_PREFIX, '');
  if (!(err instanceof Error)) return err;
  const fields = err as Error & { code?: unknown; constraint?: string; table?: string; column?: string; routine?: string };
  const frames = (err.stack ?? '').split('\n').filter((l) => l.trim().startsWith('at ')).join('\n');
  if (typeof fields.code === 'string' && SQLSTATE.test(fields.code)) {
    return {
      type: err.name,
      sqlState: fields.code,
      message: firstLine(err.message.replace(SQL_PREFIX, '')),
      ...(fields.constraint ? { constraint: fields.constraint } : {}),
      ...(fields.table ? { table: fields.table } : {}),
      ...(fields.column ? { column: fields.column } : {}),
      stack: frames,
    };
  }
  return {
    type: err.name,
    message: err.message.replace(SQL_PREFIX, ''),
    ...(typeof fields.code === 'string' ? { code: fields.code } : {}),
    stack: frames,
    ...(err.cause !== undefined ? { cause: serializeError(err.cause) } : {}),
  };
}

/**
 * A PostgreSQL message can still quote a value ('invalid input syntax for type uuid: "…"',
 * 'Key (name)=(…)'): keep its first line, with quoted values replaced.
 */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/"[^"]*"/g, '"…"').replace(/\)=\([^)]*\)/g, ')=(…)');
}

/**
 * JSON lines on stdout (or `destination`); modules take `logger.child({ source })`. Every line
 * goes through the redaction above, whatever a module puts in it.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'distr-hub' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError, error: serializeError },
  };
  return destination ? pino(options, destination) : pino(options);
}
export type { Logger };
