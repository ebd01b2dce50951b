import { pino, type Logger } from 'pino';

/** JSON lines on stdout; modules take `logger.child({ source })`. Secrets never go in fields. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'distr-hub' }, timestamp: pino.stdTimeFunctions.isoTime });
}
export type { Logger };
