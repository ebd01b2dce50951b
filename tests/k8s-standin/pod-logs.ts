/**
 * Container logs of the stand-in Kubernetes API server's simulated pods (test double). Each pod
 * container starts with a few fixed lines; tests can append more. Served by
 * GET /api/v1/namespaces/{ns}/pods/{name}/log with timestamps, sinceTime, tailLines and follow.
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';

export interface PodLogLine {
  /** RFC 3339 with nanoseconds, as the kubelet writes it. */
  timestamp: string;
  text: string;
}

export function kubeletTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export class PodLogs {
  private readonly lines = new Map<string, PodLogLine[]>();
  private readonly appended = new EventEmitter();

  constructor() {
    this.appended.setMaxListeners(0);
  }

  private key(namespace: string, pod: string, container: string): string {
    return `${namespace}/${pod}/${container}`;
  }

  append(namespace: string, pod: string, container: string, text: string, at = new Date()): void {
    const key = this.key(namespace, pod, container);
    const line = { timestamp: kubeletTimestamp(at), text };
    if (!this.lines.has(key)) this.lines.set(key, []);
    this.lines.get(key)!.push(line);
    this.appended.emit(key, line);
  }

  read(namespace: string, pod: string, container: string): PodLogLine[] {
    return [...(this.lines.get(this.key(namespace, pod, container)) ?? [])];
  }

  drop(namespace: string, pod: string): void {
    for (const key of this.lines.keys()) {
      if (!key.startsWith(`${namespace}/${pod}/`)) continue;
      this.lines.delete(key);
      this.appended.emit(`${key}:end`); // a deleted pod's log streams end, as the kubelet's do
    }
  }

  /** Write the log (optionally following new lines until the client goes away). */
  serve(res: ServerResponse, namespace: string, pod: string, container: string, query: URLSearchParams): void {
    const timestamps = query.get('timestamps') === 'true';
    const sinceTime = query.get('sinceTime');
    const tailLines = query.get('tailLines');
    const format = (l: PodLogLine) => (timestamps ? `${l.timestamp} ${l.text}\n` : `${l.text}\n`);
    // The kubelet's sinceTime has second precision and is inclusive.
    const since = sinceTime ? Date.parse(sinceTime) : null;
    let lines = this.read(namespace, pod, container).filter((l) => since === null || Date.parse(l.timestamp) >= since);
    if (tailLines) lines = lines.slice(-Number(tailLines));
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    for (const l of lines) res.write(format(l));
    if (query.get('follow') !== 'true') {
      res.end();
      return;
    }
    const key = this.key(namespace, pod, container);
    const onLine = (l: PodLogLine) => res.write(format(l));
    const onEnd = () => res.end();
    this.appended.on(key, onLine);
    this.appended.once(`${key}:end`, onEnd);
    res.on('close', () => {
      this.appended.off(key, onLine);
      this.appended.off(`${key}:end`, onEnd);
    });
  }
}
