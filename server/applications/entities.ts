import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Organization } from '../orgs/entities.js';

export const DEPLOYMENT_TYPES = ['docker', 'kubernetes'] as const;
export type DeploymentType = (typeof DEPLOYMENT_TYPES)[number];
export const CHART_TYPES = ['oci', 'repository'] as const;
export type ChartType = (typeof CHART_TYPES)[number];

export const Application = defineEntity({
  name: 'Application',
  uniques: [{ properties: ['organization', 'name'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    name: p.string(),
    type: p.enum([...DEPLOYMENT_TYPES]).nativeEnumName('deployment_type'),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type Application = InferEntity<typeof Application>;

/**
 * An immutable application version. Only `archivedAt` may change after insert; a database
 * trigger (see the initial migration) refuses any other update.
 */
export const ApplicationVersion = defineEntity({
  name: 'ApplicationVersion',
  uniques: [{ properties: ['application', 'name'] }],
  checks: [
    {
      name: 'application_version_content_matches_type',
      expression:
        "(compose_file is not null and chart_type is null) or (compose_file is null and chart_type is not null and chart_url is not null and chart_version is not null and (chart_type = 'oci' or chart_name is not null))",
    },
  ],
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    application: () => p.manyToOne(Application).deleteRule('cascade'),
    name: p.string(),
    composeFile: p.text().nullable(),
    envTemplate: p.text().nullable(),
    chartType: p.enum([...CHART_TYPES]).nativeEnumName('chart_type').nullable(),
    chartUrl: p.text().nullable(),
    chartName: p.string().nullable(),
    chartVersion: p.string().nullable(),
    baseValues: p.text().nullable(),
    valuesTemplate: p.text().nullable(),
    /** sha256 of the chart archive the hub checked; the agent installs exactly this (null: not checked). */
    chartDigest: p.string().nullable(),
    /** Warnings of the checks at creation (errors refuse the version). */
    findings: p.json<unknown[]>().nullable(),
    archivedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type ApplicationVersion = InferEntity<typeof ApplicationVersion>;

/**
 * What the GraphQL types read of an application / a version: an entity, or a plain row of a
 * list read (server/deployments/list.ts) that never goes through the identity map; a listed
 * version carries its application's row (`joined`).
 */
export type ApplicationRow = Pick<Application, 'id' | 'name' | 'type' | 'createdAt'>;
export type ApplicationVersionRow = Pick<
  ApplicationVersion,
  | 'id' | 'name' | 'composeFile' | 'envTemplate' | 'chartType' | 'chartUrl' | 'chartName' | 'chartVersion'
  | 'baseValues' | 'valuesTemplate' | 'chartDigest' | 'findings' | 'archivedAt' | 'createdAt'
> & { application: { id: string }; joined?: { application: ApplicationRow } };
