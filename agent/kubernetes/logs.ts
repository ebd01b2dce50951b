/**
 * Following the logs of a release's pods: one kubelet log stream per pod container (with
 * timestamps), re-listing pods now and then to pick up new ones after rollouts, batching lines
 * for the hub until the signal aborts.
 */
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { Log } from '@kubernetes/client-node';
import type { LogLine } from '../../protocol/index.js';
import { MAX_LOG_BATCH } from '../../protocol/index.js';
import type { KubeApis, WorkloadRef } from './workloads.js';
import { readWorkload, workloadPods } from './workloads.js';

export interface FollowLogsOptions {
  flushIntervalMs?: number;
  relistIntervalMs?: number;
}

/** RFC 3339 with exactly nine fractional digits, so timestamps compare as strings. */
export function normalizeTimestamp(ts: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return ts;
  if (m[3] !== 'Z') return normalizeTimestamp(new Date(ts).toISOString());
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0').slice(0, 9)}Z`;
}

interface Stream {
  controller: AbortController | null;
  done: boolean;
}

export async function followReleaseLogs(
  kubeConfig: KubeConfig,
  apis: KubeApis,
  deploymentId: string,
  workloads: () => Promise<WorkloadRef[]>,
  since: string | null,
  onLines: (lines: LogLine[]) => void,
  signal: AbortSignal,
  options: FollowLogsOptions = {},
): Promise<void> {
  const log = new Log(kubeConfig);
  const streams = new Map<string, Stream>();
  /** Newest timestamp seen per pod container, so a re-opened stream does not repeat lines. */
  const lastSeen = new Map<string, string>();
  const globalSince = since ? normalizeTimestamp(since) : null;
  let buffer: LogLine[] = [];

  const flush = () => {
    while (buffer.length > 0) {
      const batch = buffer.slice(0, MAX_LOG_BATCH);
      buffer = buffer.slice(MAX_LOG_BATCH);
      onLines(batch);
    }
  };

  const open = async (namespace: string, pod: string, container: string) => {
    const key = `${namespace}/${pod}/${container}`;
    const stream: Stream = { controller: null, done: false };
    streams.set(key, stream);
    const after = lastSeen.get(key) ?? globalSince;
    const sink = new PassThrough();
    let partial = '';
    sink.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        const space = raw.indexOf(' ');
        if (space < 0) continue;
        const timestamp = raw.slice(0, space);
        const normalized = normalizeTimestamp(timestamp);
        if (after && normalized <= after) continue;
        lastSeen.set(key, normalized);
        buffer.push({ deploymentId, resource: `${pod}/${container}`, stream: 'stdout', timestamp, line: raw.slice(space + 1) });
        if (buffer.length >= MAX_LOG_BATCH) flush();
      }
    });
    sink.on('close', () => (stream.done = true));
    sink.on('end', () => (stream.done = true));
    try {
      // sinceTime has second precision on the kubelet: ask from the whole second, filter the rest here.
      const sinceTime = after ? `${after.slice(0, 19)}Z` : undefined;
      stream.controller = await log.log(namespace, pod, container, sink, { follow: true, timestamps: true, ...(sinceTime ? { sinceTime } : {}) });
      if (signal.aborted) stream.controller.abort();
    } catch {
      stream.done = true; // container not started yet, or pod gone: the next relist retries
    }
  };

  const relist = async () => {
    for (const ref of await workloads()) {
      const workload = await readWorkload(apis, ref);
      if (!workload) continue;
      for (const pod of await workloadPods(apis, ref, workload)) {
        const podName = pod.metadata?.name;
        if (!podName || pod.status?.phase === 'Pending') continue;
        for (const container of pod.spec?.containers ?? []) {
          const key = `${ref.namespace}/${podName}/${container.name}`;
          const existing = streams.get(key);
          if (!existing || existing.done) void open(ref.namespace, podName, container.name);
        }
      }
    }
  };

  const flushTimer = setInterval(flush, options.flushIntervalMs ?? 250);
  try {
    while (!signal.aborted) {
      await relist().catch(() => undefined); // API hiccups: try again on the next round
      await sleep(options.relistIntervalMs ?? 3_000, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    clearInterval(flushTimer);
    for (const stream of streams.values()) stream.controller?.abort();
    flush();
  }
}
