/**
 * Staged rollouts in the SDK: `service.rollouts.create(…)`, actions, `watch(id)` over graphql-ws,
 * and the placement of targets they select by (labels, maintenance windows), plus rollback.
 */
import { print, type DocumentNode } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { DistrRequestError } from './errors.js';
import type { CreateRolloutInput, DeploymentFieldsFragment, DeploymentPreviewFieldsFragment, DeploymentTargetFieldsFragment, PreviewRolloutQuery, RolloutFieldsFragment, RuntimePreviewFieldsFragment, RolloutState, Sdk, UpdateDeploymentInput, Weekday } from './generated/graphql.js';
import {
  RolloutProgressDocument,
  RuntimePreviewChangedDocument,
  type RolloutProgressSubscription,
  type RuntimePreviewChangedSubscription,
} from './generated/subscriptions.js';

export type Rollout = RolloutFieldsFragment;
/** One deployment's dry run: files before/after with unified diffs (secrets redacted) and findings. */
export type DeploymentPreview = DeploymentPreviewFieldsFragment;
export type RolloutPreview = Omit<Extract<PreviewRolloutQuery['previewRollout'], { __typename: 'RolloutPreview' }>, '__typename'>;
export type RolloutProgress = RolloutProgressSubscription['rolloutProgress'];
/** A runtime preview asked of a deployment's agent (diff of `docker compose config`, services to recreate), secrets redacted. */
export type RuntimePreview = RuntimePreviewFieldsFragment;
export type RuntimePreviewUpdate = RuntimePreviewChangedSubscription['runtimePreviewChanged'];
export type { RolloutState, Weekday };
export interface MaintenanceWindow {
  days: Weekday[];
  /** HH:MM local time (the target's time zone). */
  start: string;
  end: string;
}
export type LabeledTarget = DeploymentTargetFieldsFragment & { labels: { key: string; value: string }[] };

/** What to roll out where, and how: exactly one of selector, deploymentIds, all. */
export type CreateRolloutRequest = Omit<CreateRolloutInput, 'applicationId' | 'versionId'> & { applicationId: string; versionId: string };

export interface Watch<T> extends AsyncIterable<T> {
  close(): Promise<void>;
}
export type RolloutWatch = Watch<RolloutProgress>;

type Unwrap = <R extends { __typename: string }, N extends R['__typename'] & string>(result: R, typename: N) => Omit<Extract<R, { __typename: N }>, '__typename'>;
type AllPages = <T>(fetchPage: (after: string | null) => Promise<{ nodes: T[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>) => Promise<T[]>;

const PAGE_SIZE = 100;
const FINAL: RolloutState[] = ['completed', 'aborted'];

export class RolloutsClient {
  constructor(
    private readonly sdk: Sdk,
    private readonly endpoint: string,
    private readonly apiKey: string,
    private readonly unwrap: Unwrap,
    private readonly allPages: AllPages,
  ) {}

  async create(request: CreateRolloutRequest): Promise<Rollout> {
    return this.unwrap((await this.sdk.CreateRollout({ input: request })).createRollout, 'Rollout');
  }

  /** Dry run of `create`: the waves and, per deployment, the diff of what its agent would receive. Writes nothing. */
  async preview(request: CreateRolloutRequest): Promise<RolloutPreview> {
    return this.unwrap((await this.sdk.PreviewRollout({ input: request })).previewRollout, 'RolloutPreview');
  }

  /** Dry run of an update of one deployment (version and/or env file, values, helm options). Writes nothing. */
  async previewUpdate(deploymentId: string, input: UpdateDeploymentInput): Promise<DeploymentPreview> {
    return this.unwrap((await this.sdk.PreviewDeploymentUpdate({ id: deploymentId, input })).previewDeploymentUpdate, 'DeploymentPreview');
  }

  async get(id: string): Promise<Rollout> {
    const r = (await this.sdk.Rollout({ id })).rollout;
    return r;
  }

  async list(filter: { applicationId?: string; state?: RolloutState } = {}): Promise<Rollout[]> {
    return this.allPages(async (after) => (await this.sdk.Rollouts({ first: PAGE_SIZE, after, ...filter })).rollouts);
  }

  async start(id: string): Promise<Rollout> {
    return this.unwrap((await this.sdk.StartRollout({ id })).startRollout, 'Rollout');
  }

  async pause(id: string): Promise<Rollout> {
    return this.unwrap((await this.sdk.PauseRollout({ id })).pauseRollout, 'Rollout');
  }

  async resume(id: string): Promise<Rollout> {
    return this.unwrap((await this.sdk.ResumeRollout({ id })).resumeRollout, 'Rollout');
  }

  async abort(id: string): Promise<Rollout> {
    return this.unwrap((await this.sdk.AbortRollout({ id })).abortRollout, 'Rollout');
  }

  /** Retry a halted rollout's wave. */
  async retry(id: string): Promise<Rollout> {
    return this.unwrap((await this.sdk.RetryRollout({ id })).retryRollout, 'Rollout');
  }

  /** Roll back every deployment the rollout moved (halted, paused or aborted rollouts). */
  async rollBack(id: string): Promise<Rollout> {
    return this.unwrap((await this.sdk.RollBackRollout({ id })).rollBackRollout, 'Rollout');
  }

  /** Make a deployment's previous (or the given earlier) revision current again, as a new revision. */
  async rollbackDeployment(deploymentId: string, revisionId?: string): Promise<DeploymentFieldsFragment> {
    return this.unwrap((await this.sdk.RollbackDeployment({ id: deploymentId, revisionId })).rollbackDeployment, 'Deployment');
  }

  /** Replace a target's labels. */
  async setTargetLabels(targetId: string, labels: Record<string, string>) {
    const input = { labels: Object.entries(labels).map(([key, value]) => ({ key, value })) };
    return this.unwrap((await this.sdk.UpdateDeploymentTargetPlacement({ id: targetId, input })).updateDeploymentTarget, 'DeploymentTarget');
  }

  /** Replace a target's maintenance windows ([]: any time), optionally with its time zone. */
  async setMaintenanceWindows(targetId: string, windows: MaintenanceWindow[], timeZone?: string) {
    const input = { maintenanceWindows: windows, timeZone };
    return this.unwrap((await this.sdk.UpdateDeploymentTargetPlacement({ id: targetId, input })).updateDeploymentTarget, 'DeploymentTarget');
  }

  /** Targets matching a label selector (`region=eu,tier in (gold,silver)`). */
  async targetsMatching(selector: string): Promise<LabeledTarget[]> {
    return this.allPages(async (after) => (await this.sdk.DeploymentTargetsBySelector({ first: PAGE_SIZE, after, selector })).deploymentTargets);
  }

  /**
   * The rollout now, then each time it moves on; ends by itself once it is completed or aborted
   * (a halted rollout may still be retried: the watch goes on).
   */
  watch(id: string, options: { onConnected?: () => void } = {}): RolloutWatch {
    return this.subscribe<RolloutProgressSubscription, RolloutProgress>(RolloutProgressDocument, { id }, (d) => d.rolloutProgress, (r) => FINAL.includes(r.state), options);
  }

  /**
   * Ask a deployment's agent for a runtime preview of what updateDeployment(id, input) would make
   * current (docker: `docker compose config` against the running project). Answered later:
   * `waitForRuntimePreview(preview.id)`.
   */
  async requestRuntimePreview(deploymentId: string, input: UpdateDeploymentInput, options: { expiresInSeconds?: number } = {}): Promise<RuntimePreview> {
    return this.unwrap((await this.sdk.RequestRuntimePreview({ deploymentId, input, expiresInSeconds: options.expiresInSeconds })).requestRuntimePreview, 'RuntimePreview');
  }

  async runtimePreview(id: string): Promise<RuntimePreview> {
    return this.unwrap((await this.sdk.RuntimePreview({ id })).runtimePreview, 'RuntimePreview');
  }

  /** The runtime preview now, then when it is answered or expires; ends with its final state. */
  watchRuntimePreview(id: string, options: { onConnected?: () => void } = {}): Watch<RuntimePreviewUpdate> {
    return this.subscribe<RuntimePreviewChangedSubscription, RuntimePreviewUpdate>(RuntimePreviewChangedDocument, { id }, (d) => d.runtimePreviewChanged, (p) => p.state !== 'pending', options);
  }

  /** Waits (on the subscription, no polling) until the agent answered or the request expired. */
  async waitForRuntimePreview(id: string): Promise<RuntimePreviewUpdate> {
    let last: RuntimePreviewUpdate | null = null;
    for await (const p of this.watchRuntimePreview(id)) last = p;
    if (!last || last.state === 'pending') throw new DistrRequestError(`the watch of runtime preview ${id} ended before it was answered`, 'NETWORK');
    return last;
  }

  /** One subscription over its own graphql-ws client, ended when `final` says so or on close(). */
  private subscribe<D, T>(document: DocumentNode, variables: Record<string, unknown>, pick: (data: D) => T | undefined, final: (value: T) => boolean, options: { onConnected?: () => void }): Watch<T> {
    const client = createClient({
      url: this.endpoint.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${this.apiKey}` },
      lazy: true,
      retryAttempts: 3,
      on: { connected: () => options.onConnected?.() },
    });
    const iterator = client.iterate<D>({ query: print(document), variables })[Symbol.asyncIterator]();
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await iterator.return?.();
      await client.dispose();
    };
    async function* events(): AsyncGenerator<T> {
      try {
        while (!closed) {
          const step = await iterator.next().catch((err: unknown) => {
            if (closed) return { done: true as const, value: undefined };
            const e = Array.isArray(err) ? err[0] : err;
            throw new DistrRequestError((e as Error)?.message ?? 'watch failed', 'NETWORK');
          });
          if (step.done) return;
          if (step.value.errors?.length) throw new DistrRequestError(String((step.value.errors[0] as { message?: string }).message), 'GRAPHQL');
          const value = step.value.data ? pick(step.value.data) : undefined;
          if (!value) continue;
          yield value;
          if (final(value)) return;
        }
      } finally {
        await close();
      }
    }
    return { [Symbol.asyncIterator]: events, close };
  }
}
