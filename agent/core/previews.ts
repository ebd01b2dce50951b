import type { Logger } from 'pino';
import {
  MAX_PREVIEW_DIFF,
  MAX_PREVIEW_SERVICES,
  redactSecrets,
  type AgentRuntimePreviewReportInput,
  type DesiredDeployment,
  type WireRuntimePreviewRequest,
} from '../../protocol/index.js';
import { backoffDelay, sleep } from './backoff.js';
import type { DeploymentDriver } from './driver.js';
import { describe, HubRefusal, type HubClient } from './hub-client.js';

/** Longest a driver may take for one preview. */
const PREVIEW_TIMEOUT_MS = 120_000;

/** The answer as it leaves the agent: every text redacted, the diff cut to what the hub stores. */
export function redactedReport(report: AgentRuntimePreviewReportInput, request: Pick<WireRuntimePreviewRequest, 'redact'>): AgentRuntimePreviewReportInput {
  const clean = <T extends string | null | undefined>(text: T): T => (text == null ? text : (redactSecrets(text, request.redact) as T));
  let diff = clean(report.diff);
  let message = clean(report.message);
  if (diff != null && diff.length > MAX_PREVIEW_DIFF) {
    diff = diff.slice(0, MAX_PREVIEW_DIFF);
    message = [message, `diff cut at ${MAX_PREVIEW_DIFF} characters`].filter(Boolean).join('; ');
  }
  return {
    ...report,
    error: clean(report.error)?.slice(0, 4000),
    diff,
    message,
    services: report.services?.slice(0, MAX_PREVIEW_SERVICES).map((s) => ({ ...s, name: clean(s.name), imageBefore: clean(s.imageBefore), imageAfter: clean(s.imageAfter) })),
  };
}

/**
 * Answers the runtime previews the desired state carries, each once: the driver compares the
 * candidate with what runs (reads only), the answer is redacted and sent, retried with backoff
 * while the hub is away. A refusal (answered meanwhile, expired) ends it. Requests the hub no
 * longer lists are forgotten.
 */
export class PreviewRunner {
  private readonly running = new Set<string>();
  private readonly answered = new Set<string>();

  constructor(
    private readonly deps: { driver: DeploymentDriver; hub: HubClient; logger: Logger; signal: AbortSignal },
  ) {}

  /** Start the requests not yet answered; `currentOf` gives the deployment as the state wants it. */
  sync(requests: readonly WireRuntimePreviewRequest[], currentOf: (deploymentId: string) => DesiredDeployment | null): void {
    const listed = new Set(requests.map((r) => r.previewId));
    for (const id of this.answered) if (!listed.has(id)) this.answered.delete(id);
    for (const request of requests) {
      if (this.running.has(request.previewId) || this.answered.has(request.previewId)) continue;
      this.running.add(request.previewId);
      void this.run(request, currentOf(request.deploymentId)).finally(() => this.running.delete(request.previewId));
    }
  }

  private async run(request: WireRuntimePreviewRequest, current: DesiredDeployment | null): Promise<void> {
    const { driver, logger, signal } = this.deps;
    const log = logger.child({ preview: request.previewId, deployment: request.deploymentId });
    let report: AgentRuntimePreviewReportInput;
    if (request.error) {
      report = { previewId: request.previewId, error: request.error };
    } else if (!driver.preview) {
      report = { previewId: request.previewId, error: `the ${driver.type} agent cannot preview at runtime yet; use the hub preview (previewDeploymentUpdate)` };
    } else {
      const timeout = AbortSignal.timeout(PREVIEW_TIMEOUT_MS);
      try {
        const result = await driver.preview(request.deploymentId, current, request, { signal: AbortSignal.any([signal, timeout]) });
        report = { previewId: request.previewId, ...result };
      } catch (err) {
        if (signal.aborted) return;
        report = { previewId: request.previewId, baseRevisionId: null, error: timeout.aborted ? `the preview took longer than ${PREVIEW_TIMEOUT_MS / 1000} s` : describe(err) };
      }
    }
    const clean = redactedReport(report, request);
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await this.deps.hub.reportRuntimePreview(clean);
        this.answered.add(request.previewId);
        log.info({ failed: clean.error != null }, 'runtime preview answered');
        return;
      } catch (err) {
        if (err instanceof HubRefusal) {
          this.answered.add(request.previewId);
          log.warn({ refusal: err.refusal }, `${err.message}; answer dropped`);
          return;
        }
        log.warn({ err: describe(err) }, 'sending the runtime preview failed; retrying');
        await sleep(backoffDelay(attempt, 500, 30_000), signal);
      }
    }
  }
}
