import { builder } from '../schema/builder.js';
import type { Finding } from './findings.js';

export const SeverityEnum = builder.enumType('FindingSeverity', { values: ['error', 'warning'] as const });

export const FindingRef = builder.objectRef<Finding>('ValidationFinding').implement({
  description: 'One result of a check: what is wrong (or doubtful), where, and what to do.',
  fields: (t) => ({
    severity: t.field({ type: SeverityEnum, resolve: (f) => f.severity }),
    code: t.exposeString('code', { description: 'Kind of finding: compose_schema, missing_variable, chart_not_found, registry_unreachable, image_not_found, …' }),
    field: t.exposeString('field', { description: 'The input field (composeFile, envFile, chartVersion, baseValues, …).' }),
    path: t.exposeString('path', { description: 'Path inside the document (services.web.depends_on), "" for the whole field.' }),
    message: t.exposeString('message'),
    hint: t.string({ nullable: true, resolve: (f) => f.hint ?? null }),
  }),
});

