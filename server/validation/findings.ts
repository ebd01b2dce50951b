/**
 * What a check found: the troubleshooting vocabulary shared by version and deployment checks,
 * the create/update mutations and the `distr validate` command.
 */
export type Severity = 'error' | 'warning';

export interface Finding {
  severity: Severity;
  /** Where: the input field, then the path inside the document (`composeFile: services.web.depends_on`). */
  field: string;
  /** The path inside the document, dotted, list items as `[i]` (`services.web.ports[0]`); '' for the whole field. */
  path: string;
  message: string;
  /** What to do about it. */
  hint: string | null;
  /** A stable machine-readable kind, e.g. `compose_schema`, `missing_variable`, `chart_not_found`. */
  code: string;
}

export function finding(
  severity: Severity,
  code: string,
  field: string,
  path: string,
  message: string,
  hint: string | null = null,
): Finding {
  return { severity, code, field, path, message, hint };
}

export const hasErrors = (findings: readonly Finding[]): boolean => findings.some((f) => f.severity === 'error');

/** `field: path: message` — how a finding reads in an error message. */
export function describeFinding(f: Finding): string {
  return `${f.path ? `${f.path}: ` : ''}${f.message}`;
}
