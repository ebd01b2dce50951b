/**
 * Run-time checks of what callers hand the SDK (TypeScript types vanish at run time, and many
 * callers are plain JavaScript or JSON from a CI job). A bad argument becomes a
 * DistrInvalidInputError naming the field (`kubernetesDeployment.valuesYaml`) before any request
 * is sent, instead of an HTTP 400 about GraphQL variables. Unknown fields are refused too, so a
 * typo (`kubernetesDeploy`) is not silently ignored.
 */
import { z } from 'zod';
import { DistrInvalidInputError } from './errors.js';

const text = z.string();
const nonEmpty = z.string().trim().min(1, 'must not be empty');
const id = z.string().trim().min(1, 'must be a non-empty id');
const deploymentType = z.enum(['docker', 'kubernetes']);
const scope = z.enum(['namespace', 'cluster']);
const role = z.enum(['admin', 'read_write', 'read_only']);

export const helmOptionsInput = z.strictObject({
  atomic: z.boolean().optional(),
  wait: z.boolean().optional(),
  ignoreDrift: z.boolean().optional(),
  timeoutSeconds: z.int().positive().optional(),
});

export const schemas = {
  id,
  name: nonEmpty,
  createApplication: z.strictObject({ name: nonEmpty, type: deploymentType }),
  dockerVersionContent: z.strictObject({ composeFile: nonEmpty, envTemplate: text.optional() }),
  kubernetesVersionContent: z.strictObject({
    chartType: z.enum(['oci', 'repository']),
    chartUrl: nonEmpty,
    chartName: nonEmpty.optional(),
    chartVersion: nonEmpty,
    baseValues: text.optional(),
    valuesTemplate: text.optional(),
  }),
  archived: z.boolean(),
  versionOrder: z.enum(['semver', 'chronological']),
  newDeploymentTarget: z.strictObject({
    name: nonEmpty,
    type: deploymentType,
    namespace: nonEmpty.optional(),
    scope: scope.optional(),
    logsEnabled: z.boolean().optional(),
    // The product document's spelling.
    kubernetes: z.strictObject({ namespace: nonEmpty, scope: scope.optional() }).optional(),
  }),
  createDeployment: z
    .strictObject({
      target: z.unknown().optional(),
      targetId: id.optional(),
      deploymentTargetId: id.optional(),
      application: z.strictObject({ versionId: id }),
      dockerDeployment: z.strictObject({ composeType: z.enum(['compose', 'swarm']), envFile: text.optional() }).optional(),
      kubernetesDeployment: z.strictObject({ releaseName: nonEmpty, valuesYaml: text.optional(), helmOptions: helmOptionsInput.optional() }).optional(),
    })
    .refine((r) => [r.target, r.targetId, r.deploymentTargetId].filter((v) => v !== undefined).length === 1, {
      message: 'give exactly one of target (a new target), targetId or deploymentTargetId',
      path: ['target'],
    })
    .refine((r) => !(r.dockerDeployment && r.kubernetesDeployment), {
      message: 'give dockerDeployment (docker) or kubernetesDeployment (kubernetes), not both',
      path: ['kubernetesDeployment'],
    }),
  updateDeployment: z
    .strictObject({
      deploymentId: id.optional(),
      deploymentTargetId: id.optional(),
      application: z.strictObject({ versionId: id }).optional(),
      dockerDeployment: z.strictObject({ envFile: text }).optional(),
      kubernetesDeployment: z.strictObject({ valuesYaml: text.optional(), helmOptions: helmOptionsInput.optional() }).optional(),
    })
    .refine((r) => r.deploymentId !== undefined || r.deploymentTargetId !== undefined, {
      message: 'give deploymentId, or deploymentTargetId (the target holding one deployment of the application)',
      path: ['deploymentId'],
    })
    .refine((r) => r.application || r.dockerDeployment || r.kubernetesDeployment, {
      message: 'nothing to update: give application.versionId, dockerDeployment or kubernetesDeployment',
      path: ['application'],
    })
    .refine((r) => !(r.dockerDeployment && r.kubernetesDeployment), {
      message: 'give dockerDeployment (docker) or kubernetesDeployment (kubernetes), not both',
      path: ['kubernetesDeployment'],
    }),
  targetIds: z.array(id).optional(),
  deploymentFilter: z.strictObject({ applicationId: id.optional(), targetId: id.optional() }),
  deleteDeploymentOptions: z.strictObject({ removeVolumes: z.boolean().optional() }),
  createApiKey: z.strictObject({
    name: nonEmpty,
    roleCap: role.optional(),
    expiresAt: z.union([z.date(), z.iso.datetime({ offset: true })]).optional(),
  }),
};

/** The parsed value, or a DistrInvalidInputError naming the first bad field (`<argument>.<path>`). */
export function checked<S extends z.ZodType>(method: string, argument: string, schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => describeIssue(argument, issue));
  const first = problems[0]!;
  const rest = problems.length > 1 ? ` (and ${problems.slice(1).map((p) => p.field).join(', ')})` : '';
  throw new DistrInvalidInputError(`${method}: ${first.field}: ${first.message}${rest}`, first.field);
}

function describeIssue(argument: string, issue: z.core.$ZodIssue): { field: string; message: string } {
  const path = [argument, ...issue.path.map(String)].filter(Boolean);
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    return { field: [...path, keys[0]!].join('.'), message: `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}` };
  }
  const field = path.join('.') || 'input';
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return { field, message: `is required (${issue.expected})` };
  return { field, message: issue.message };
}
