/** Command-line options of the propagation benchmark (parsed once, on import; a bad value exits with code 2). */
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    agents: { type: 'string', default: '1000' },
    updates: { type: 'string', default: '300' },
    'update-gap-ms': { type: 'string', default: '10' },
    'fanout-targets': { type: 'string', default: '1000' },
    'status-seconds': { type: 'string', default: '10' },
    'status-concurrency': { type: 'string', default: '64' },
    'connect-concurrency': { type: 'string', default: '200' },
    'login-concurrency': { type: 'string', default: '32' },
    seed: { type: 'string', default: '1' },
    // The restart phase (bench/propagation/restart.ts): updates made while the agents reconnect.
    'restart-updates': { type: 'string', default: '20' },
    'skip-restart': { type: 'boolean', default: false },
    // bench/replicas.ts only: hub processes on the one database, and the idle window measured.
    hubs: { type: 'string', default: '4' },
    'idle-seconds': { type: 'string', default: '32' },
    // bench/ingest.ts: deployments per simulated agent, and seconds of each ingestion phase.
    'deployments-per-agent': { type: 'string', default: '10' },
    'ingest-seconds': { type: 'string', default: '10' },
  },
  strict: true,
});
export const N = positiveInt('agents');
export const UPDATES = positiveInt('updates');
export const UPDATE_GAP_MS = Number(args['update-gap-ms']);
export const FANOUT = Math.min(positiveInt('fanout-targets'), N);
export const STATUS_SECONDS = Number(args['status-seconds']);
export const STATUS_CONCURRENCY = positiveInt('status-concurrency');
export const CONNECT_CONCURRENCY = positiveInt('connect-concurrency');
export const LOGIN_CONCURRENCY = positiveInt('login-concurrency');
export const RESTART_UPDATES = positiveInt('restart-updates');
export const SKIP_RESTART = args['skip-restart'] === true;
export const HUBS = positiveInt('hubs');
export const IDLE_SECONDS = Number(args['idle-seconds']);
/** Seed of the random choice of targets (updates, status reports). */
export const SEED = args.seed;
export const DEPLOYMENTS_PER_AGENT = positiveInt('deployments-per-agent');
export const INGEST_SECONDS = Number(args['ingest-seconds']);

function positiveInt(name: keyof typeof args): number {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive whole number`);
    process.exit(2);
  }
  return n;
}
