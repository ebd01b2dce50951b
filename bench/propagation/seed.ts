/**
 * Seeding of the benchmark database: the application and its two versions through the API, then
 * N docker targets with one deployment (and revision) each by bulk SQL.
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Hub } from './hub.js';
import { gqlOk } from './http.js';
import { log } from './util.js';

export interface Seeded {
  targetId: string;
  deploymentId: string;
  revisionId: string;
}

const COMPOSE = `services:
  web:
    image: nginx:1.27-alpine
    ports: ["8080:80"]
    environment:
      GREETING: \${GREETING:-hello}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost"]
      interval: 10s
`;

/** Application with v1 (deployed) and v2 (rolled out later), through the API. */
export async function createApplication(h: Hub): Promise<{ appId: string; v1Id: string; v2Id: string }> {
  const app = (await gqlOk(h.port, h.apiKey, `mutation { createApplication(input: {name: "bench", type: docker}) { ... on Application { id } ... on Error { message } } }`))
    .createApplication;
  const versionQuery = `mutation($i: CreateDockerApplicationVersionInput!) { createDockerApplicationVersion(input: $i) { ... on ApplicationVersion { id } ... on Error { message } } }`;
  const v1 = (await gqlOk(h.port, h.apiKey, versionQuery, { i: { applicationId: app.id, name: 'v1', composeFile: COMPOSE, envTemplate: 'GREETING=hello\nLOG=info\n' } }))
    .createDockerApplicationVersion;
  const v2 = (await gqlOk(h.port, h.apiKey, versionQuery, { i: { applicationId: app.id, name: 'v2', composeFile: COMPOSE, envTemplate: 'GREETING=hello\nLOG=debug\n' } }))
    .createDockerApplicationVersion;
  if (!app?.id || !v1?.id || !v2?.id) throw new Error('could not create the application and its versions');
  return { appId: app.id, v1Id: v1.id, v2Id: v2.id };
}

/**
 * Targets, deployments and revisions in bulk SQL (the integrity triggers still run per row):
 * `n` targets with `deploymentsPerTarget` deployments each. All targets share one agent secret,
 * returned with the seeded rows (one per deployment, ordered by target name).
 */
export async function seedTargets(databaseUrl: string, appId: string, v1Id: string, n: number, deploymentsPerTarget = 1): Promise<{ seeded: Seeded[]; secret: string }> {
  const t0 = performance.now();
  const secret = randomBytes(32).toString('base64url');
  const credentialHash = createHash('sha256').update(secret).digest('hex');
  const sql = new pg.Client({ connectionString: databaseUrl });
  await sql.connect();
  let seeded: Seeded[];
  try {
    const org = (await sql.query(`select organization_id from application where id = $1`, [appId])).rows[0].organization_id as string;
    await sql.query('begin');
    await sql.query(
      `insert into deployment_target (id, organization_id, name, type, logs_enabled, credential_hash, credential_generation, created_at)
       select gen_random_uuid(), $1, 'edge-' || lpad(i::text, 6, '0'), 'docker', false, $2, 1, now() from generate_series(1, $3) i`,
      [org, credentialHash, n],
    );
    await sql.query(
      `insert into deployment (id, organization_id, target_id, application_id, compose_type, created_at)
       select gen_random_uuid(), $1, t.id, $2, 'compose', now() from deployment_target t, generate_series(1, $3) k where t.organization_id = $1`,
      [org, appId, deploymentsPerTarget],
    );
    await sql.query(
      `insert into deployment_revision (id, deployment_id, version_id, env_file, force_restart, created_by, created_at)
       select gen_random_uuid(), d.id, $2, 'GREETING=hi' || chr(10), false, 'bench', now() from deployment d where d.application_id = $1`,
      [appId, v1Id],
    );
    await sql.query(`update deployment d set current_revision_id = r.id from deployment_revision r where r.deployment_id = d.id and d.application_id = $1`, [appId]);
    await sql.query('commit');
    seeded = (
      await sql.query(
        `select t.id as target_id, d.id as deployment_id, d.current_revision_id as revision_id
         from deployment_target t join deployment d on d.target_id = t.id order by t.name, d.id`,
      )
    ).rows.map((r) => ({ targetId: r.target_id, deploymentId: r.deployment_id, revisionId: r.revision_id }));
    await sql.query('analyze');
  } finally {
    await sql.end();
  }
  log(`seeded ${n} targets with ${deploymentsPerTarget} deployment(s) each in ${Math.round(performance.now() - t0)} ms`);
  return { seeded, secret };
}
