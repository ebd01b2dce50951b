import { Migration } from '@mikro-orm/migrations';

export class Migration20261201214809_rollouts extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create type "rollout_state" as enum ('pending', 'running', 'paused', 'halted', 'completed', 'aborted');`);
    this.addSql(`create type "rollout_member_state" as enum ('pending', 'updating', 'soaking', 'passed', 'failed', 'rolled_back');`);
    this.addSql(`create table "rollout" ("id" uuid not null, "organization_id" uuid not null, "application_id" uuid not null, "version_id" uuid not null, "selection" jsonb not null, "strategy" jsonb not null, "state" "rollout_state" not null, "current_wave" int not null default 0, "wave_count" int not null, "halt_reason" text null, "created_by" varchar(255) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "rollout_pkey" primary key ("id"));`);
    this.addSql(`create index "rollout_organization_id_created_at_index" on "rollout" ("organization_id", "created_at");`);
    this.addSql(`create index "rollout_state_index" on "rollout" ("state");`);

    this.addSql(`create table "rollout_event" ("id" bigserial primary key, "rollout_id" uuid not null, "at" timestamptz not null, "actor" varchar(255) not null, "action" varchar(255) not null, "from_state" varchar(255) null, "to_state" varchar(255) not null, "wave" int null, "detail" text null);`);
    this.addSql(`create index "rollout_event_rollout_id_at_index" on "rollout_event" ("rollout_id", "at");`);

    this.addSql(`create table "rollout_member" ("id" uuid not null, "rollout_id" uuid not null, "deployment_id" uuid not null, "wave" int not null, "position" int not null, "state" "rollout_member_state" not null, "from_revision_id" uuid null, "to_revision_id" uuid null, "moved_at" timestamptz null, "healthy_since" timestamptz null, "finished_at" timestamptz null, "message" text null, constraint "rollout_member_pkey" primary key ("id"));`);
    this.addSql(`create index "rollout_member_rollout_id_wave_index" on "rollout_member" ("rollout_id", "wave");`);
    this.addSql(`create index "rollout_member_deployment_id_index" on "rollout_member" ("deployment_id");`);
    this.addSql(`alter table "rollout_member" add constraint "rollout_member_rollout_id_deployment_id_unique" unique ("rollout_id", "deployment_id");`);

    this.addSql(`alter table "rollout" add constraint "rollout_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "rollout" add constraint "rollout_application_id_foreign" foreign key ("application_id") references "application" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "rollout" add constraint "rollout_version_id_foreign" foreign key ("version_id") references "application_version" ("id") on update cascade on delete no action;`);

    this.addSql(`alter table "rollout_event" add constraint "rollout_event_rollout_id_foreign" foreign key ("rollout_id") references "rollout" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "rollout_member" add constraint "rollout_member_rollout_id_foreign" foreign key ("rollout_id") references "rollout" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "rollout_member" add constraint "rollout_member_deployment_id_foreign" foreign key ("deployment_id") references "deployment" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "deployment_target" add column "labels" jsonb not null default '{}', add column "time_zone" varchar(255) not null default 'UTC', add column "maintenance_windows" jsonb null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "rollout_event" drop constraint "rollout_event_rollout_id_foreign";`);

    this.addSql(`alter table "rollout_member" drop constraint "rollout_member_rollout_id_foreign";`);

    this.addSql(`drop table if exists "rollout" cascade;`);

    this.addSql(`drop table if exists "rollout_event" cascade;`);

    this.addSql(`drop table if exists "rollout_member" cascade;`);

    this.addSql(`alter table "deployment_target" drop column "labels", drop column "time_zone", drop column "maintenance_windows";`);

    this.addSql(`drop type "rollout_state";`);
    this.addSql(`drop type "rollout_member_state";`);
  }

}
