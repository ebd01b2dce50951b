import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';
import type { LogLine } from '../../protocol/index.js';
import type { DriverLogger } from './cli.js';

export interface FollowLogsOptions {
  docker: Docker;
  deploymentId: string;
  /** Label filter selecting the project's containers, e.g. "com.docker.compose.project=shop". */
  projectLabel: string;
  /** ISO time; lines at or before it are skipped. Null: from each container's start. */
  since: string | null;
  onLines: (lines: LogLine[]) => void;
  signal: AbortSignal;
  logger: DriverLogger;
  flushIntervalMs: number;
  maxBatchLines: number;
  /** How often to look for containers that appeared (or restarted) since. */
  relistIntervalMs: number;
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;

/**
 * Docker's timestamps are RFC3339Nano with trailing zeros dropped, so they do not sort as
 * strings. Padding the fraction to nine digits makes them (and JS ISO times) comparable.
 */
export function comparableTimestamp(timestamp: string): string {
  const match = RFC3339.exec(timestamp);
  if (match) return `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}Z`;
  const parsed = new Date(timestamp);
  if (Number.isNaN(parsed.getTime())) return '';
  return comparableTimestamp(parsed.toISOString());
}

/** Docker's `since` query parameter: unix seconds with a fraction. */
function unixSeconds(comparable: string): string {
  const seconds = Math.floor(Date.parse(`${comparable.slice(0, 19)}Z`) / 1000);
  return `${seconds}.${comparable.slice(20, 29)}`;
}

interface FollowedContainer {
  /** Latest timestamp delivered for this container, comparable form. */
  lastSeen: string;
  /** Set while a log stream is open. */
  stream: NodeJS.ReadableStream | null;
}

/**
 * Follows the logs of every container carrying `projectLabel`, including containers that appear
 * (or restart) later, until the signal aborts. Lines are batched before they go to onLines.
 */
export async function followProjectLogs(options: FollowLogsOptions): Promise<void> {
  const { docker, signal, logger } = options;
  if (signal.aborted) return;
  const sinceFloor = options.since ? comparableTimestamp(options.since) : '';
  const followed = new Map<string, FollowedContainer>();
  let pending: LogLine[] = [];

  const flush = () => {
    while (pending.length > 0) {
      const batch = pending.slice(0, options.maxBatchLines);
      pending = pending.slice(batch.length);
      try {
        options.onLines(batch);
      } catch (error) {
        logger.warn({ err: error, deploymentId: options.deploymentId }, 'log consumer failed; batch dropped');
      }
    }
  };

  const push = (line: LogLine) => {
    pending.push(line);
    if (pending.length >= options.maxBatchLines) flush();
  };

  const startFollowing = async (containerId: string, resource: string, entry: FollowedContainer) => {
    const container = docker.getContainer(containerId);
    const tty = (await container.inspect()).Config.Tty;
    // Lines at or before this are already delivered (or were asked to be skipped).
    const floor = entry.lastSeen || sinceFloor;
    const stream = await container.logs({
      follow: true,
      stdout: true,
      stderr: true,
      timestamps: true,
      ...(floor ? { since: unixSeconds(floor) } : {}),
      abortSignal: signal,
    });
    entry.stream = stream;

    const attach = (target: NodeJS.ReadableStream, streamName: LogLine['stream']) => {
      const decoder = new StringDecoder('utf8');
      let partial = '';
      const emit = (raw: string) => {
        const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        const space = text.indexOf(' ');
        const stamp = space > 0 ? text.slice(0, space) : '';
        const comparable = stamp ? comparableTimestamp(stamp) : '';
        if (!comparable) {
          push({ deploymentId: options.deploymentId, resource, stream: streamName, timestamp: new Date().toISOString(), line: text });
          return;
        }
        // Docker's `since` is inclusive and only second-precise in older engines: filter here.
        if (comparable <= floor) return;
        if (comparable > entry.lastSeen) entry.lastSeen = comparable;
        push({ deploymentId: options.deploymentId, resource, stream: streamName, timestamp: stamp, line: text.slice(space + 1) });
      };
      target.on('data', (chunk: Buffer) => {
        const lines = (partial + decoder.write(chunk)).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) emit(line);
      });
      target.on('end', () => {
        const rest = partial + decoder.end();
        if (rest) emit(rest);
      });
    };

    if (tty) {
      attach(stream, 'stdout');
    } else {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      attach(stdout, 'stdout');
      attach(stderr, 'stderr');
      docker.modem.demuxStream(stream, stdout, stderr);
      stream.on('end', () => {
        stdout.end();
        stderr.end();
      });
    }
    const done = () => {
      entry.stream = null;
    };
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', (error: Error) => {
      done();
      if (!signal.aborted) logger.debug({ err: error, containerId }, 'log stream ended with an error');
    });
  };

  const relist = async () => {
    const containers = await docker.listContainers({ all: true, filters: { label: [options.projectLabel] } });
    // Forget removed containers (replaced by an apply), so a long-lived follow does not grow.
    const listed = new Set(containers.map((c) => c.Id));
    for (const [id, entry] of followed) if (!listed.has(id) && !entry.stream) followed.delete(id);
    for (const info of containers) {
      const entry = followed.get(info.Id);
      // Stopped containers are read once (their past output); running ones are (re)followed.
      if (entry && (entry.stream || info.State !== 'running')) continue;
      const current = entry ?? { lastSeen: '', stream: null };
      followed.set(info.Id, current);
      const resource = (info.Names[0] ?? info.Id).replace(/^\//, '');
      current.stream = new PassThrough(); // placeholder: no second stream while this one opens
      startFollowing(info.Id, resource, current).catch((error: unknown) => {
        current.stream = null;
        if (!signal.aborted) logger.debug({ err: error, containerId: info.Id }, 'could not follow container logs');
      });
    }
  };

  const flushTimer = setInterval(flush, options.flushIntervalMs);
  try {
    while (!signal.aborted) {
      try {
        await relist();
      } catch (error) {
        if (!signal.aborted) logger.warn({ err: error, deploymentId: options.deploymentId }, 'listing containers for logs failed');
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, options.relistIntervalMs);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    clearInterval(flushTimer);
    for (const entry of followed.values()) {
      const stream = entry.stream as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
      stream?.destroy?.();
    }
    flush();
  }
}
