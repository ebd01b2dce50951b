/**
 * Set-based revision writes shared by rollouts and rollback: one statement appends a revision to
 * every given deployment and moves its pointer, however many there are.
 */
import type { EntityManager } from '@mikro-orm/postgresql';

export interface Appended {
  deploymentId: string;
  targetId: string;
  fromRevisionId: string;
  toRevisionId: string;
}

/** Append a revision of `versionId` (keeping each deployment's env file / values) to each deployment. */
export async function appendVersionRevisions(em: EntityManager, deploymentIds: readonly string[], versionId: string, createdBy: string): Promise<Appended[]> {
  if (deploymentIds.length === 0) return [];
  const rows: { id: string; target_id: string; from_id: string; to_id: string }[] = await em.execute(
    `with appended as (
       insert into deployment_revision (id, deployment_id, version_id, env_file, values_yaml, force_restart, created_by, created_at)
       select gen_random_uuid(), d.id, ?, r.env_file, r.values_yaml, false, ?, clock_timestamp()
       from deployment d join deployment_revision r on r.id = d.current_revision_id
       where d.id in (?)
       returning id, deployment_id),
     moved as (
       select d.id, d.target_id, d.current_revision_id as from_id, appended.id as to_id
       from deployment d join appended on appended.deployment_id = d.id)
     update deployment d set current_revision_id = moved.to_id from moved
     where d.id = moved.id returning d.id, moved.target_id, moved.from_id, moved.to_id`,
    [versionId, createdBy, [...deploymentIds]],
  );
  return rows.map((r) => ({ deploymentId: r.id, targetId: r.target_id, fromRevisionId: r.from_id, toRevisionId: r.to_id }));
}

/** Make an earlier revision's content current again, as a new revision of each deployment. */
export async function appendCopiesOf(em: EntityManager, pairs: readonly { deploymentId: string; revisionId: string }[], createdBy: string): Promise<Appended[]> {
  if (pairs.length === 0) return [];
  const rows: { id: string; target_id: string; from_id: string; to_id: string }[] = await em.execute(
    `with pairs (deployment_id, revision_id) as (select * from unnest(?::uuid[], ?::uuid[])),
     appended as (
       insert into deployment_revision (id, deployment_id, version_id, env_file, values_yaml, force_restart, created_by, created_at)
       select gen_random_uuid(), r.deployment_id, r.version_id, r.env_file, r.values_yaml, false, ?, clock_timestamp()
       from pairs join deployment_revision r on r.id = pairs.revision_id and r.deployment_id = pairs.deployment_id
       returning id, deployment_id),
     moved as (
       select d.id, d.target_id, d.current_revision_id as from_id, appended.id as to_id
       from deployment d join appended on appended.deployment_id = d.id)
     update deployment d set current_revision_id = moved.to_id from moved
     where d.id = moved.id returning d.id, moved.target_id, moved.from_id, moved.to_id`,
    [`{${pairs.map((p) => p.deploymentId).join(',')}}`, `{${pairs.map((p) => p.revisionId).join(',')}}`, createdBy],
  );
  return rows.map((r) => ({ deploymentId: r.id, targetId: r.target_id, fromRevisionId: r.from_id, toRevisionId: r.to_id }));
}
