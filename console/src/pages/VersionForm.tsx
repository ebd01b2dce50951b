/**
 * A new version of an application: a compose file and .env template (docker) or a chart reference
 * and values (kubernetes). The hub's checks (validateApplicationVersion) run as you type, debounced;
 * their findings are shown next to the fields they name, and an error finding blocks Save.
 */
import { useEffect, useState } from 'react';
import {
  CreateDockerVersionDocument,
  CreateKubernetesVersionDocument,
  ValidateVersionDocument,
  type ChartType,
  type ValidateApplicationVersionInput,
  type ValidateVersionQuery,
} from '../generated/graphql.js';
import { expectType, request } from '../api.js';
import { ErrorNote } from '../ui.js';

type Finding = Extract<ValidateVersionQuery['validateApplicationVersion'], { __typename: 'ValidationResult' }>['findings'][number];
/** Wait this long after the last keystroke before asking the hub. */
const DEBOUNCE_MS = 400;

/** The hub's findings for `input`, re-checked (debounced) whenever it changes; stale answers are dropped. */
function useFindings(input: ValidateApplicationVersionInput): { findings: Finding[] | null; checking: boolean; error: string | null } {
  const key = JSON.stringify(input);
  const [state, setState] = useState<{ key: string; findings: Finding[] | null; error: string | null }>({ key: '', findings: null, error: null });
  useEffect(() => {
    let live = true;
    const timer = setTimeout(async () => {
      try {
        const result = expectType((await request(ValidateVersionDocument, { input })).validateApplicationVersion, 'ValidationResult');
        if (live) setState({ key, findings: result.findings, error: null });
      } catch (err) {
        if (live) setState({ key, findings: null, error: (err as Error).message });
      }
    }, DEBOUNCE_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return { findings: state.key === key ? state.findings : null, checking: state.key !== key, error: state.key === key ? state.error : null };
}

export function Findings({ findings, field }: { findings: Finding[] | null; field?: string }) {
  const shown = (findings ?? []).filter((f) => field === undefined || f.field === field);
  if (shown.length === 0) return null;
  return (
    <ul className="findings" aria-label={field ? `Findings for ${field}` : 'Findings'}>
      {shown.map((f, i) => (
        <li key={i} className={`finding finding-${f.severity}`} data-testid="finding">
          <b>{f.severity}</b> {f.path && !f.message.startsWith(f.path) ? <code>{f.path}</code> : null} {f.message}
          {f.hint && <small> — {f.hint}</small>}
        </li>
      ))}
    </ul>
  );
}

function CheckState({ checking, findings, error }: ReturnType<typeof useFindings>) {
  const errors = (findings ?? []).filter((f) => f.severity === 'error').length;
  const warnings = (findings ?? []).length - errors;
  return (
    <p role="status" data-testid="check-state" className="check-state">
      {error ? `Checks failed: ${error}` : checking ? 'Checking…' : errors ? `${errors} error(s) must be fixed before saving` : warnings ? `Checks passed with ${warnings} warning(s)` : 'Checks passed'}
    </p>
  );
}

function Field({ label, name, value, onChange, findings, multiline, required }: { label: string; name: string; value: string; onChange: (v: string) => void; findings: Finding[] | null; multiline?: boolean; required?: boolean }) {
  return (
    <div className="field">
      <label>
        {label}
        {multiline ? <textarea name={name} value={value} onChange={(e) => onChange(e.target.value)} /> : <input name={name} value={value} onChange={(e) => onChange(e.target.value)} required={required} />}
      </label>
      <Findings findings={findings} field={name} />
    </div>
  );
}

export function NewVersion({ applicationId, type, onDone }: { applicationId: string; type: 'docker' | 'kubernetes'; onDone: () => void }) {
  const [name, setName] = useState('');
  const [composeFile, setCompose] = useState('services:\n  web:\n    image: nginx\n');
  const [envTemplate, setEnv] = useState('');
  const [chartType, setChartType] = useState<ChartType>('repository');
  const [chartUrl, setChartUrl] = useState('');
  const [chartName, setChartName] = useState('');
  const [chartVersion, setChartVersion] = useState('');
  const [baseValues, setBaseValues] = useState('');
  const [valuesTemplate, setValuesTemplate] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const input: ValidateApplicationVersionInput =
    type === 'docker'
      ? { applicationId, composeFile, envTemplate: envTemplate || null }
      : { applicationId, chartType, chartUrl, chartName: chartType === 'repository' ? chartName || null : null, chartVersion, baseValues: baseValues || null, valuesTemplate: valuesTemplate || null };
  const check = useFindings(input);
  const blocked = (check.findings ?? []).some((f) => f.severity === 'error');
  const fieldNames = type === 'docker' ? ['composeFile', 'envTemplate'] : ['chartUrl', 'chartName', 'chartVersion', 'baseValues', 'valuesTemplate'];
  const other = check.findings?.filter((f) => !fieldNames.includes(f.field)) ?? null;
  return (
    <form
      className="version-form"
      aria-label="New version"
      onSubmit={async (e) => {
        e.preventDefault();
        setSaving(true);
        try {
          if (type === 'docker') expectType((await request(CreateDockerVersionDocument, { input: { applicationId, name, composeFile, envTemplate: envTemplate || null } })).createDockerApplicationVersion, 'ApplicationVersion');
          else expectType((await request(CreateKubernetesVersionDocument, { input: { ...input, chartType, chartUrl, chartVersion, name } })).createKubernetesApplicationVersion, 'ApplicationVersion');
          onDone();
        } catch (err) {
          setError((err as Error).message);
        } finally {
          setSaving(false);
        }
      }}
    >
      <label>Version name <input name="versionName" value={name} onChange={(e) => setName(e.target.value)} required /></label>
      {type === 'docker' ? (
        <>
          <Field label="Compose file" name="composeFile" value={composeFile} onChange={setCompose} findings={check.findings} multiline />
          <Field label=".env template" name="envTemplate" value={envTemplate} onChange={setEnv} findings={check.findings} multiline />
        </>
      ) : (
        <>
          <fieldset>
            <legend>Chart source</legend>
            <label className="radio"><input type="radio" name="chartType" checked={chartType === 'repository'} onChange={() => setChartType('repository')} /> Chart repository</label>
            <label className="radio"><input type="radio" name="chartType" checked={chartType === 'oci'} onChange={() => setChartType('oci')} /> OCI registry</label>
          </fieldset>
          <Field label={chartType === 'oci' ? 'Chart URL (oci://…)' : 'Repository URL'} name="chartUrl" value={chartUrl} onChange={setChartUrl} findings={check.findings} required />
          {chartType === 'repository' && <Field label="Chart name" name="chartName" value={chartName} onChange={setChartName} findings={check.findings} required />}
          <Field label="Chart version" name="chartVersion" value={chartVersion} onChange={setChartVersion} findings={check.findings} required />
          <Field label="Base values" name="baseValues" value={baseValues} onChange={setBaseValues} findings={check.findings} multiline />
          <Field label="Values template" name="valuesTemplate" value={valuesTemplate} onChange={setValuesTemplate} findings={check.findings} multiline />
        </>
      )}
      <Findings findings={other} />
      <CheckState {...check} />
      <button type="submit" disabled={blocked || saving}>{saving ? 'Saving…' : 'Create version'}</button>
      <ErrorNote error={error} />
    </form>
  );
}
