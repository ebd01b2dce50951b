/**
 * Secret redaction of runtime-preview results, shared by the agent (which redacts what it sends)
 * and the hub (which redacts again what it stores): every occurrence of a secret's value becomes
 * `[redacted secrets.NAME]`, the placeholder the hub preview uses. Values are also matched in
 * the forms `docker compose config` prints them: JSON/YAML-escaped and with `$` doubled.
 * Values shorter than MIN_SUBSTRING characters are replaced only as whole words, so a one-letter
 * secret does not garble the whole text.
 */
export interface SecretToRedact {
  name: string;
  value: string;
}

const MIN_SUBSTRING = 3;

export const redactedSecret = (name: string) => `[redacted secrets.${name}]`;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function formsOf(value: string): string[] {
  const escaped = JSON.stringify(value).slice(1, -1);
  return [...new Set([value, escaped, value.replaceAll('$', '$$$$'), escaped.replaceAll('$', '$$$$')])].filter((f) => f.length > 0);
}

export function redactSecrets(text: string, secrets: readonly SecretToRedact[]): string {
  const forms = secrets
    .flatMap((s) => formsOf(s.value).map((form) => ({ form, placeholder: redactedSecret(s.name) })))
    .sort((a, b) => b.form.length - a.form.length);
  let out = text;
  for (const { form, placeholder } of forms) {
    out =
      form.length >= MIN_SUBSTRING
        ? out.split(form).join(placeholder)
        : out.replace(new RegExp(`(?<![A-Za-z0-9_])${escapeRegExp(form)}(?![A-Za-z0-9_])`, 'g'), placeholder);
  }
  return out;
}
