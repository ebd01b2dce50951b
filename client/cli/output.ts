/** What the CLI prints: JSON (`--json`), plain tables on stdout, and a progress line on stderr. */
import type { Deployment, DeploymentStatusEvent, DeploymentTarget } from '../types.js';
import type { DeploymentPreview, RuntimePreviewUpdate } from '../rollouts.js';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** One JSON object per line, for streams (`status --watch --json`). */
export function printJsonLine(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** Columns padded to their widest cell; `-` for empty cells. */
export function printTable(headers: string[], rows: (string | null | undefined)[][]): void {
  const cells = [headers, ...rows.map((row) => row.map((c) => (c === null || c === undefined || c === '' ? '-' : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  for (const row of cells) process.stdout.write(row.map((c, i) => (i === row.length - 1 ? c : c!.padEnd(widths[i]!))).join('  ') + '\n');
}

export function agentState(target: Pick<DeploymentTarget, 'agent' | 'hasAccess'>): string {
  if (target.agent.connected) return 'connected';
  const failed = target.agent.lastFailedLogin;
  // A refused login after the agent was last seen is why it is not connected.
  if (failed && (!target.agent.lastSeenAt || failed.at > target.agent.lastSeenAt)) return `login refused at ${failed.at}: ${failed.reason}`;
  if (target.agent.lastSeenAt) return `offline since ${target.agent.lastSeenAt}`;
  return target.hasAccess ? 'never connected' : 'no access yet';
}

export function printDeployments(deployments: Deployment[]): void {
  printTable(
    ['DEPLOYMENT', 'APPLICATION', 'VERSION', 'TARGET', 'PHASE', 'MESSAGE', 'AGENT'],
    deployments.map((d) => [
      d.id,
      d.application.name,
      d.currentRevision.version.name,
      d.deploymentTarget.name,
      // A status for an older revision means the agent has not applied the current one yet.
      d.status ? (d.status.revisionId === d.currentRevision.id ? d.status.phase : `${d.status.phase} (previous revision)`) : 'pending',
      d.status?.message,
      agentState(d.deploymentTarget),
    ]),
  );
}

export function formatStatusEvent(event: DeploymentStatusEvent, names: Map<string, string>): string {
  return `${event.changedAt}  ${names.get(event.deploymentId) ?? event.deploymentId}  ${event.phase}  ${event.message}`;
}

/**
 * A "waiting" line on stderr: animated on a terminal; on a pipe one plain line (so logs and tests
 * see it once, not a stream of carriage returns).
 */
export class ProgressLine {
  private static readonly frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  private timer: NodeJS.Timeout | null = null;
  private frame = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private text: string) {}

  start(text = this.text): void {
    this.text = text;
    if (!this.tty) {
      process.stderr.write(`${text}\n`);
      return;
    }
    this.timer ??= setInterval(() => this.draw(), 100);
    this.draw();
  }

  /** Print a line on stdout without tearing the spinner. */
  log(line: string): void {
    this.clear();
    process.stdout.write(line + '\n');
    if (this.timer) this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }

  private draw(): void {
    this.frame = (this.frame + 1) % ProgressLine.frames.length;
    process.stderr.write(`\r\x1b[2K${ProgressLine.frames[this.frame]} ${this.text}`);
  }

  private clear(): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
  }
}

/** One deployment's preview: a header, the diffs of the files that change, the findings. */
export function printPreview(d: DeploymentPreview): void {
  const wave = d.wave === null ? '' : `wave ${d.wave}  `;
  process.stdout.write(`\n== ${wave}${d.target.name}  deployment ${d.deploymentId}: ${d.fromVersion.name} -> ${d.toVersion.name}${d.changed ? '' : '  (no change)'}\n`);
  for (const f of d.files) if (f.diff) process.stdout.write(f.diff.endsWith('\n') ? f.diff : `${f.diff}\n`);
  if (d.secrets.length > 0) process.stdout.write(`secrets (values not shown): ${d.secrets.join(', ')}\n`);
  for (const f of d.findings) {
    process.stdout.write(`${f.severity.padEnd(7)} ${f.field}${f.path ? ` ${f.path}` : ''}: ${f.message}\n`);
    if (f.hint) process.stdout.write(`        hint: ${f.hint}\n`);
  }
}

/** A runtime preview's answer: what the runtime would do per service, and the normalized config's diff. */
export function printRuntimePreview(p: RuntimePreviewUpdate): void {
  process.stdout.write(`\n== runtime preview ${p.id}: ${p.state}${p.detail ? ` (${p.detail})` : ''}\n`);
  for (const s of p.services ?? []) {
    const image = s.imageChanged ? `  image ${s.imageBefore} -> ${s.imageAfter}` : '';
    process.stdout.write(`${s.change.padEnd(10)} ${s.name}${image}\n`);
  }
  if (p.diff) process.stdout.write(p.diff.endsWith('\n') ? p.diff : `${p.diff}\n`);
}
