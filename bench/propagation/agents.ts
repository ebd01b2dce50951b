/**
 * Simulated agents: one raw `ws` socket each, speaking graphql-transport-ws with the real
 * desired-state subscription, recording when each revision (and a rolled-out version) arrives.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { backoffDelay } from '../../agent/core/backoff.js';
import { DESIRED_STATE_SUBSCRIPTION, HUB_RETRY_BASE_MS, HUB_RETRY_MAX_MS } from '../../agent/core/hub-client.js';
import { LOGIN_CONCURRENCY } from './args.js';
import type { Hub } from './hub.js';
import { gqlOk } from './http.js';
import type { Seeded } from './seed.js';
import { log, pool, sleep } from './util.js';

/** Arrival times of desired states, by revision id, and waiters for them. */
export const arrivals = new Map<string, number>();
export const revisionWaiters = new Map<string, (at: number) => void>();

/** A rollout being watched: which targets must receive version `name`, and when the last one did. */
export interface VersionWatch {
  name: string;
  targets: Set<string>;
  seen: Set<string>;
  last: number;
  done: () => void;
}
let versionWatch: VersionWatch | null = null;

export function setVersionWatch(watch: VersionWatch | null): void {
  versionWatch = watch;
}

/** Log every agent in over HTTP, as real agents do; the tokens in the order of `seeded`. */
export async function loginAgents(h: Hub, seeded: Seeded[], secret: string): Promise<{ tokens: string[]; loginMs: number }> {
  const t1 = performance.now();
  const loginQuery = `mutation($t: ID!, $s: String!) { agentLogin(targetId: $t, secret: $s) { token } }`;
  const tokens: string[] = new Array(seeded.length);
  await pool(seeded, LOGIN_CONCURRENCY, async (s, i) => {
    tokens[i] = (await gqlOk(h.port, null, loginQuery, { t: s.targetId, s: secret })).agentLogin.token;
  });
  const loginMs = performance.now() - t1;
  log(`${seeded.length} agent logins over HTTP in ${Math.round(loginMs)} ms (${Math.round(seeded.length / (loginMs / 1000))}/s)`);
  return { tokens, loginMs };
}

export class SimAgent {
  ws: WebSocket | null = null;
  revisionId: string;
  states = 0;
  closed: { code: number; reason: string } | null = null;
  private initial!: { resolve: () => void; reject: (e: Error) => void };
  /** Operations other than the desired-state subscription ('1'), by id: mutations sent over the socket. */
  private readonly pending = new Map<string, { resolve: (payload: any) => void; reject: (e: Error) => void; payload: any }>();
  private nextId = 2;

  constructor(
    readonly seed: Seeded,
    readonly token: string,
  ) {
    this.revisionId = seed.revisionId;
  }

  connect(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.initial = { resolve, reject };
      const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { perMessageDeflate: false });
      this.ws = ws;
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { token: this.token } })));
      ws.on('message', (data: Buffer) => this.onMessage(data));
      ws.on('error', (err) => reject(err));
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        reject(new Error(`socket closed before the first state: ${code} ${reason}`));
      });
    });
  }

  /** Resolves when the current socket has closed (the hub went away). */
  whenClosed(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => ws.once('close', () => resolve()));
  }

  /**
   * Back after the hub went away, as agent/core's HubClient is: the jittered exponential backoff
   * before every attempt (graphql-ws waits before the first retry too), with the token it already
   * holds (still valid: the hub's signing key is in the database), until the first state arrives.
   * Returns the number of attempts.
   */
  async reconnect(port: number): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      await sleep(backoffDelay(attempt, HUB_RETRY_BASE_MS, HUB_RETRY_MAX_MS));
      this.states = 0;
      this.closed = null;
      try {
        await this.connect(port);
        return attempt + 1;
      } catch {
        this.close();
      }
    }
  }

  /** Run a mutation over this agent's socket (graphql-transport-ws subscribe → next → complete). */
  request(query: string, variables: Record<string, unknown>): Promise<any> {
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, payload: null });
      this.ws!.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
    });
  }

  private onMessage(data: Buffer): void {
    const at = performance.now();
    const msg = JSON.parse(data.toString('utf8'));
    const op = msg.id && msg.id !== '1' ? this.pending.get(msg.id) : undefined;
    if (op) {
      if (msg.type === 'next') op.payload = msg.payload;
      else if (msg.type === 'error') {
        this.pending.delete(msg.id);
        op.reject(new Error(JSON.stringify(msg.payload)));
      } else if (msg.type === 'complete') {
        this.pending.delete(msg.id);
        op.resolve(op.payload);
      }
      return;
    }
    switch (msg.type) {
      case 'connection_ack':
        this.ws!.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: DESIRED_STATE_SUBSCRIPTION } }));
        return;
      case 'ping':
        this.ws!.send('{"type":"pong"}');
        return;
      case 'next': {
        const state = msg.payload?.data?.agentDesiredState;
        if (!state) {
          this.initial.reject(new Error(`subscription error: ${JSON.stringify(msg.payload?.errors)}`));
          return;
        }
        const d = state.deployments[0];
        this.states++;
        if (this.states === 1) this.initial.resolve();
        if (!d) return;
        this.revisionId = d.revisionId;
        arrivals.set(d.revisionId, at);
        revisionWaiters.get(d.revisionId)?.(at);
        if (versionWatch && d.versionName === versionWatch.name && versionWatch.targets.has(this.seed.targetId) && !versionWatch.seen.has(this.seed.targetId)) {
          versionWatch.seen.add(this.seed.targetId);
          versionWatch.last = at;
          if (versionWatch.seen.size === versionWatch.targets.size) versionWatch.done();
        }
        return;
      }
      case 'error':
        this.initial.reject(new Error(`subscription error: ${JSON.stringify(msg.payload)}`));
        return;
    }
  }

  close(): void {
    this.ws?.removeAllListeners('close');
    this.ws?.on('error', () => {});
    this.ws?.terminate();
  }
}
