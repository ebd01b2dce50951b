import { Migration } from '@mikro-orm/migrations';

/**
 * Rules the entities cannot express as columns or checks, enforced by the database itself so no
 * code path can break them: versions and revisions are immutable, and a deployment's target and
 * application have the same type and organization, and its revisions use its application's
 * versions. (Created blank with `npm run migration:create -- integrity_triggers --blank`.)
 */
export class Migration20261126083358_integrity_triggers extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create function distr_version_immutable() returns trigger language plpgsql as $$
begin
  if (new.application_id, new.name, new.compose_file, new.env_template, new.chart_type, new.chart_url,
      new.chart_name, new.chart_version, new.base_values, new.values_template, new.created_at)
     is distinct from
     (old.application_id, old.name, old.compose_file, old.env_template, old.chart_type, old.chart_url,
      old.chart_name, old.chart_version, old.base_values, old.values_template, old.created_at) then
    raise exception 'application versions are immutable: only archived_at may change' using errcode = 'check_violation';
  end if;
  return new;
end $$;`);
    this.addSql(`create trigger application_version_immutable before update on application_version for each row execute function distr_version_immutable();`);

    this.addSql(`
create function distr_revision_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'deployment revisions are append-only' using errcode = 'check_violation';
end $$;`);
    this.addSql(`create trigger deployment_revision_append_only before update on deployment_revision for each row execute function distr_revision_append_only();`);

    this.addSql(`
create function distr_deployment_consistent() returns trigger language plpgsql as $$
declare
  app_type deployment_type; app_org uuid; target_type deployment_type; target_org uuid;
begin
  if tg_op = 'UPDATE' and (new.target_id, new.application_id, new.organization_id) is distinct from (old.target_id, old.application_id, old.organization_id) then
    raise exception 'a deployment''s target and application are fixed' using errcode = 'check_violation';
  end if;
  select type, organization_id into app_type, app_org from application where id = new.application_id;
  select type, organization_id into target_type, target_org from deployment_target where id = new.target_id;
  if app_type is distinct from target_type then
    raise exception 'deployment target type % does not match application type %', target_type, app_type using errcode = 'check_violation';
  end if;
  if app_org is distinct from new.organization_id or target_org is distinct from new.organization_id then
    raise exception 'deployment, target and application must belong to one organization' using errcode = 'check_violation';
  end if;
  return new;
end $$;`);
    this.addSql(`create trigger deployment_consistent before insert or update on deployment for each row execute function distr_deployment_consistent();`);

    this.addSql(`
create function distr_revision_version_of_application() returns trigger language plpgsql as $$
begin
  if not exists (
    select 1 from application_version v join deployment d on d.application_id = v.application_id
    where v.id = new.version_id and d.id = new.deployment_id
  ) then
    raise exception 'a revision must use a version of its deployment''s application' using errcode = 'check_violation';
  end if;
  return new;
end $$;`);
    this.addSql(`create trigger deployment_revision_version_of_application before insert on deployment_revision for each row execute function distr_revision_version_of_application();`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists deployment_revision_version_of_application on deployment_revision;`);
    this.addSql(`drop function if exists distr_revision_version_of_application();`);
    this.addSql(`drop trigger if exists deployment_consistent on deployment;`);
    this.addSql(`drop function if exists distr_deployment_consistent();`);
    this.addSql(`drop trigger if exists deployment_revision_append_only on deployment_revision;`);
    this.addSql(`drop function if exists distr_revision_append_only();`);
    this.addSql(`drop trigger if exists application_version_immutable on application_version;`);
    this.addSql(`drop function if exists distr_version_immutable();`);
  }
}
