import { gql, ok } from './graphql.js';

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import {
  TestkitCreateAccessDocument,
  TestkitCreateApplicationDocument,
  TestkitCreateDeploymentDocument,
  TestkitCreateDockerVersionDocument,
  TestkitCreateKubernetesVersionDocument,
  TestkitCreateTargetDocument,
  TestkitDeleteDeploymentDocument,
  TestkitDeploymentStatusDocument,
  TestkitForceRestartDocument,
  TestkitRolloutDocument,
  TestkitUpdateDeploymentDocument,
} from './generated/graphql.js';

/**
 * One helper per vendor operation (documents in operations/flow.graphql, typed by codegen),
 * returning the mutation's result union as the hub sent it (`__typename` tells success from a
 * typed error). The result is typed as the success member with the error fields optional, so a
 * test reads `app.id` directly and a test of a refusal reads `field` or `rule`.
 */
type ErrorFields = { message?: string; field?: string; rule?: string; entity?: string; entityId?: string };
type Loose<U extends { __typename: string }, S extends string> = Omit<Extract<U, { __typename: S }>, '__typename'> & { __typename: U['__typename'] } & ErrorFields;

/** Inputs stay loose: tests send what the schema or the rules refuse. */
type AnyInput = Record<string, unknown>;

export async function mutate<R, F extends keyof R>(url: string, key: string, field: F, document: TypedDocumentNode<R, any>, variables: AnyInput): Promise<R[F]> {
  const data = await ok<R, AnyInput>(url, document, variables, key);
  return data[field];
}

type ResultOf<D> = D extends TypedDocumentNode<infer R, any> ? R : never;
type Field<D, F extends keyof ResultOf<D>> = ResultOf<D>[F] & { __typename: string };

export const createApplication = async (url: string, key: string, name: string, type: 'docker' | 'kubernetes') =>
  (await mutate(url, key, 'createApplication', TestkitCreateApplicationDocument, { input: { name, type } })) as Loose<
    Field<typeof TestkitCreateApplicationDocument, 'createApplication'>,
    'Application'
  >;

export const createDockerVersion = async (url: string, key: string, applicationId: string, name: string, composeFile: string, envTemplate?: string) =>
  (await mutate(url, key, 'createDockerApplicationVersion', TestkitCreateDockerVersionDocument, { input: { applicationId, name, composeFile, envTemplate } })) as Loose<
    Field<typeof TestkitCreateDockerVersionDocument, 'createDockerApplicationVersion'>,
    'ApplicationVersion'
  >;

export const createKubernetesVersion = async (url: string, key: string, input: AnyInput) =>
  (await mutate(url, key, 'createKubernetesApplicationVersion', TestkitCreateKubernetesVersionDocument, { input })) as Loose<
    Field<typeof TestkitCreateKubernetesVersionDocument, 'createKubernetesApplicationVersion'>,
    'ApplicationVersion'
  >;

export const createTarget = async (url: string, key: string, input: AnyInput) =>
  (await mutate(url, key, 'createDeploymentTarget', TestkitCreateTargetDocument, { input })) as Loose<
    Field<typeof TestkitCreateTargetDocument, 'createDeploymentTarget'>,
    'DeploymentTarget'
  >;

export const createAccess = async (url: string, key: string, targetId: string) =>
  (await mutate(url, key, 'createDeploymentTargetAccess', TestkitCreateAccessDocument, { id: targetId })) as Loose<
    Field<typeof TestkitCreateAccessDocument, 'createDeploymentTargetAccess'>,
    'DeploymentTargetAccess'
  >;

export const createDeployment = async (url: string, key: string, input: AnyInput) =>
  (await mutate(url, key, 'createDeployment', TestkitCreateDeploymentDocument, { input })) as Loose<Field<typeof TestkitCreateDeploymentDocument, 'createDeployment'>, 'Deployment'>;

export const updateDeployment = async (url: string, key: string, id: string, input: AnyInput) =>
  (await mutate(url, key, 'updateDeployment', TestkitUpdateDeploymentDocument, { id, input })) as Loose<Field<typeof TestkitUpdateDeploymentDocument, 'updateDeployment'>, 'Deployment'>;

export const forceRestart = async (url: string, key: string, id: string) =>
  (await mutate(url, key, 'forceRestartDeployment', TestkitForceRestartDocument, { id })) as Loose<
    Field<typeof TestkitForceRestartDocument, 'forceRestartDeployment'>,
    'Deployment'
  >;

export const deleteDeployment = async (url: string, key: string, id: string, removeVolumes = false) =>
  (await mutate(url, key, 'deleteDeployment', TestkitDeleteDeploymentDocument, { id, rv: removeVolumes })) as Loose<
    Field<typeof TestkitDeleteDeploymentDocument, 'deleteDeployment'>,
    'Deleted'
  >;

export const rollout = async (url: string, key: string, applicationId: string, versionId: string, targetIds?: string[]) =>
  (await mutate(url, key, 'rolloutApplicationVersion', TestkitRolloutDocument, { a: applicationId, v: versionId, t: targetIds ?? null })) as Loose<
    Field<typeof TestkitRolloutDocument, 'rolloutApplicationVersion'>,
    'RolloutResult'
  >;

export async function deploymentStatus(url: string, key: string, id: string) {
  const data = await ok(url, TestkitDeploymentStatusDocument, { id }, key);
  if (!data.deployment) throw new Error(`deployment ${id} not found`);
  return data.deployment;
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
