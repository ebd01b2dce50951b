import { gql, ok } from './graphql.js';

/**
 * One helper per vendor operation, returning the mutation's result union as the hub sent it
 * (`__typename` tells success from a typed error).
 */
const ERR = '... on Error { __typename message } ... on InvalidInputError { field } ... on RuleViolationError { rule } ... on NotFoundError { entity entityId } ... on ConflictError { field }';

export async function mutate(url: string, key: string, field: string, query: string, variables: Record<string, unknown>) {
  const data = await ok(url, query, variables, key);
  return data[field];
}

export const createApplication = (url: string, key: string, name: string, type: 'docker' | 'kubernetes') =>
  mutate(url, key, 'createApplication', `mutation($input: CreateApplicationInput!) { createApplication(input: $input) { __typename ... on Application { id name type } ${ERR} } }`, {
    input: { name, type },
  });

export const createDockerVersion = (url: string, key: string, applicationId: string, name: string, composeFile: string, envTemplate?: string) =>
  mutate(
    url,
    key,
    'createDockerApplicationVersion',
    `mutation($input: CreateDockerApplicationVersionInput!) { createDockerApplicationVersion(input: $input) { __typename ... on ApplicationVersion { id name composeFile envTemplate } ${ERR} } }`,
    { input: { applicationId, name, composeFile, envTemplate } },
  );

export const createKubernetesVersion = (url: string, key: string, input: Record<string, unknown>) =>
  mutate(
    url,
    key,
    'createKubernetesApplicationVersion',
    `mutation($input: CreateKubernetesApplicationVersionInput!) { createKubernetesApplicationVersion(input: $input) { __typename ... on ApplicationVersion { id name chartType chartUrl chartName chartVersion baseValues } ${ERR} } }`,
    { input },
  );

export const createTarget = (url: string, key: string, input: Record<string, unknown>) =>
  mutate(url, key, 'createDeploymentTarget', `mutation($input: CreateDeploymentTargetInput!) { createDeploymentTarget(input: $input) { __typename ... on DeploymentTarget { id name type namespace scope } ${ERR} } }`, {
    input,
  });

export const createAccess = (url: string, key: string, targetId: string) =>
  mutate(
    url,
    key,
    'createDeploymentTargetAccess',
    `mutation($id: ID!) { createDeploymentTargetAccess(targetId: $id) { __typename ... on DeploymentTargetAccess { targetId secret hubUrl installCommand } ${ERR} } }`,
    { id: targetId },
  );

const DEPLOYMENT_FIELDS = 'id composeType releaseName currentRevision { id envFile valuesYaml forceRestart version { id name } } target { id } application { id }';

export const createDeployment = (url: string, key: string, input: Record<string, unknown>) =>
  mutate(url, key, 'createDeployment', `mutation($input: CreateDeploymentInput!) { createDeployment(input: $input) { __typename ... on Deployment { ${DEPLOYMENT_FIELDS} } ${ERR} } }`, {
    input,
  });

export const updateDeployment = (url: string, key: string, id: string, input: Record<string, unknown>) =>
  mutate(url, key, 'updateDeployment', `mutation($id: ID!, $input: UpdateDeploymentInput!) { updateDeployment(id: $id, input: $input) { __typename ... on Deployment { ${DEPLOYMENT_FIELDS} } ${ERR} } }`, {
    id,
    input,
  });

export const forceRestart = (url: string, key: string, id: string) =>
  mutate(url, key, 'forceRestartDeployment', `mutation($id: ID!) { forceRestartDeployment(id: $id) { __typename ... on Deployment { ${DEPLOYMENT_FIELDS} } ${ERR} } }`, { id });

export const deleteDeployment = (url: string, key: string, id: string, removeVolumes = false) =>
  mutate(url, key, 'deleteDeployment', `mutation($id: ID!, $rv: Boolean) { deleteDeployment(id: $id, removeVolumes: $rv) { __typename ... on Deleted { id } ${ERR} } }`, {
    id,
    rv: removeVolumes,
  });

export const rollout = (url: string, key: string, applicationId: string, versionId: string, targetIds?: string[]) =>
  mutate(
    url,
    key,
    'rolloutApplicationVersion',
    `mutation($a: ID!, $v: ID!, $t: [ID!]) { rolloutApplicationVersion(applicationId: $a, versionId: $v, targetIds: $t) { __typename ... on RolloutResult { count deployments { id } } ${ERR} } }`,
    { a: applicationId, v: versionId, t: targetIds ?? null },
  );

export async function deploymentStatus(url: string, key: string, id: string) {
  const data = await ok(url, `query($id: ID!) { deployment(id: $id) { id currentRevision { id } status { phase message revisionId resources { kind name phase message } } } }`, { id }, key);
  return data.deployment as { id: string; currentRevision: { id: string }; status: null | { phase: string; message: string; revisionId: string; resources: any[] } };
}

export const COMPOSE_TWO_SERVICES = `services:
  web:
    image: local/busybox:test
    command: ["sh", "-c", "echo web up; sleep 3600"]
    init: true
    network_mode: none
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      retries: 3
  worker:
    image: local/busybox:test
    command: ["sh", "-c", "echo worker $\${GREETING}; sleep 3600"]
    init: true
    network_mode: none
    environment:
      GREETING: \${GREETING:-hello}
`;

/** A docker app with one version, a docker target and access, in one call. */
export async function seedDockerSetup(url: string, key: string, name = 'shop') {
  const app = await createApplication(url, key, name, 'docker');
  const version = await createDockerVersion(url, key, app.id, 'v1', COMPOSE_TWO_SERVICES, 'GREETING=hello\n');
  const target = await createTarget(url, key, { name: `${name}-host`, type: 'docker' });
  return { app, version, target };
}

export { gql, ok };
