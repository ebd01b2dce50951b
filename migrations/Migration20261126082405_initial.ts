import { Migration } from '@mikro-orm/migrations';

export class Migration20261126082405_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create type "deployment_type" as enum ('docker', 'kubernetes');`);
    this.addSql(`create type "target_scope" as enum ('namespace', 'cluster');`);
    this.addSql(`create type "chart_type" as enum ('oci', 'repository');`);
    this.addSql(`create type "compose_type" as enum ('compose', 'swarm');`);
    this.addSql(`create type "deployment_phase" as enum ('healthy', 'running', 'progressing', 'error');`);
    this.addSql(`create type "membership_role" as enum ('read_only', 'read_write', 'admin');`);
    this.addSql(`create table "organization" ("id" uuid not null, "name" varchar(255) not null, "created_at" timestamptz not null, constraint "organization_pkey" primary key ("id"));`);

    this.addSql(`create table "deployment_target" ("id" uuid not null, "organization_id" uuid not null, "name" varchar(255) not null, "type" "deployment_type" not null, "namespace" varchar(255) null, "scope" "target_scope" null, "logs_enabled" boolean not null default false, "credential_hash" varchar(64) null, "credential_generation" int not null default 0, "agent_version" varchar(255) null, "agent_host" varchar(255) null, "last_seen_at" timestamptz null, "created_at" timestamptz not null, constraint "deployment_target_pkey" primary key ("id"), constraint deployment_target_kubernetes_fields check ((type = 'docker' and namespace is null and scope is null) or (type = 'kubernetes' and namespace is not null and scope is not null)));`);
    this.addSql(`alter table "deployment_target" add constraint "deployment_target_organization_id_name_unique" unique ("organization_id", "name");`);

    this.addSql(`create table "deleted_deployment" ("deployment_id" uuid not null, "target_id" uuid not null, "remove_volumes" boolean not null, "deleted_at" timestamptz not null, constraint "deleted_deployment_pkey" primary key ("deployment_id"));`);
    this.addSql(`create index "deleted_deployment_target_id_index" on "deleted_deployment" ("target_id");`);

    this.addSql(`create table "agent_connection" ("id" uuid not null, "target_id" uuid not null, "hub_instance" varchar(255) not null, "connected_at" timestamptz not null, "heartbeat_at" timestamptz not null, constraint "agent_connection_pkey" primary key ("id"));`);
    this.addSql(`create index "agent_connection_target_id_index" on "agent_connection" ("target_id");`);

    this.addSql(`create table "application" ("id" uuid not null, "organization_id" uuid not null, "name" varchar(255) not null, "type" "deployment_type" not null, "created_at" timestamptz not null, constraint "application_pkey" primary key ("id"));`);
    this.addSql(`alter table "application" add constraint "application_organization_id_name_unique" unique ("organization_id", "name");`);

    this.addSql(`create table "application_version" ("id" uuid not null, "application_id" uuid not null, "name" varchar(255) not null, "compose_file" text null, "env_template" text null, "chart_type" "chart_type" null, "chart_url" text null, "chart_name" varchar(255) null, "chart_version" varchar(255) null, "base_values" text null, "values_template" text null, "archived_at" timestamptz null, "created_at" timestamptz not null, constraint "application_version_pkey" primary key ("id"), constraint application_version_content_matches_type check ((compose_file is not null and chart_type is null) or (compose_file is null and chart_type is not null and chart_url is not null and chart_version is not null and (chart_type = 'oci' or chart_name is not null))));`);
    this.addSql(`alter table "application_version" add constraint "application_version_application_id_name_unique" unique ("application_id", "name");`);

    this.addSql(`create table "deployment" ("id" uuid not null, "organization_id" uuid not null, "target_id" uuid not null, "application_id" uuid not null, "compose_type" "compose_type" null, "release_name" varchar(255) null, "helm_options" jsonb null, "current_revision_id" uuid null, "created_at" timestamptz not null, constraint "deployment_pkey" primary key ("id"), constraint deployment_kind_fields check ((compose_type is not null and release_name is null) or (compose_type is null and release_name is not null)));`);
    this.addSql(`create index "deployment_target_id_index" on "deployment" ("target_id");`);
    this.addSql(`create index "deployment_application_id_index" on "deployment" ("application_id");`);
    this.addSql(`alter table "deployment" add constraint "deployment_target_id_release_name_unique" unique ("target_id", "release_name");`);

    this.addSql(`create table "log_entry" ("id" bigserial primary key, "deployment_id" uuid not null, "resource" varchar(255) not null, "stream" varchar(255) not null, "timestamp" timestamptz not null, "line" text not null);`);
    this.addSql(`create index "log_entry_deployment_id_timestamp_index" on "log_entry" ("deployment_id", "timestamp");`);

    this.addSql(`create table "deployment_status" ("deployment_id" uuid not null, "revision_id" uuid not null, "phase" "deployment_phase" not null, "message" text not null, "resources" jsonb null, "reported_at" timestamptz not null, "changed_at" timestamptz not null, constraint "deployment_status_pkey" primary key ("deployment_id"));`);

    this.addSql(`create table "deployment_revision" ("id" uuid not null, "deployment_id" uuid not null, "version_id" uuid not null, "env_file" text null, "values_yaml" text null, "force_restart" boolean not null default false, "created_by" varchar(255) not null, "created_at" timestamptz not null, constraint "deployment_revision_pkey" primary key ("id"));`);
    this.addSql(`create index "deployment_revision_version_id_index" on "deployment_revision" ("version_id");`);
    this.addSql(`create index "deployment_revision_deployment_id_created_at_index" on "deployment_revision" ("deployment_id", "created_at");`);

    this.addSql(`create table "setting" ("key" varchar(255) not null, "value" text not null, constraint "setting_pkey" primary key ("key"));`);

    this.addSql(`create table "status_transition" ("id" uuid not null, "deployment_id" uuid not null, "revision_id" uuid not null, "phase" "deployment_phase" not null, "message" text not null, "at" timestamptz not null, constraint "status_transition_pkey" primary key ("id"));`);
    this.addSql(`create index "status_transition_deployment_id_at_index" on "status_transition" ("deployment_id", "at");`);

    this.addSql(`create table "app_user" ("id" uuid not null, "email" varchar(255) not null, "name" varchar(255) not null, "created_at" timestamptz not null, constraint "app_user_pkey" primary key ("id"));`);
    this.addSql(`alter table "app_user" add constraint "app_user_email_unique" unique ("email");`);

    this.addSql(`create table "membership" ("id" uuid not null, "organization_id" uuid not null, "user_id" uuid not null, "role" "membership_role" not null, "created_at" timestamptz not null, constraint "membership_pkey" primary key ("id"));`);
    this.addSql(`alter table "membership" add constraint "membership_organization_id_user_id_unique" unique ("organization_id", "user_id");`);

    this.addSql(`create table "api_key" ("id" uuid not null, "organization_id" uuid not null, "user_id" uuid not null, "name" varchar(255) not null, "secret_hash" varchar(64) not null, "role_cap" "membership_role" not null, "expires_at" timestamptz null, "last_used_at" timestamptz null, "revoked_at" timestamptz null, "created_at" timestamptz not null, constraint "api_key_pkey" primary key ("id"));`);

    this.addSql(`alter table "deployment_target" add constraint "deployment_target_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "deleted_deployment" add constraint "deleted_deployment_target_id_foreign" foreign key ("target_id") references "deployment_target" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "agent_connection" add constraint "agent_connection_target_id_foreign" foreign key ("target_id") references "deployment_target" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "application" add constraint "application_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "application_version" add constraint "application_version_application_id_foreign" foreign key ("application_id") references "application" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "deployment" add constraint "deployment_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "deployment" add constraint "deployment_target_id_foreign" foreign key ("target_id") references "deployment_target" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "deployment" add constraint "deployment_application_id_foreign" foreign key ("application_id") references "application" ("id") on update cascade;`);
    this.addSql(`alter table "deployment" add constraint "deployment_current_revision_id_foreign" foreign key ("current_revision_id") references "deployment_revision" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "log_entry" add constraint "log_entry_deployment_id_foreign" foreign key ("deployment_id") references "deployment" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "deployment_status" add constraint "deployment_status_deployment_id_foreign" foreign key ("deployment_id") references "deployment" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "deployment_revision" add constraint "deployment_revision_deployment_id_foreign" foreign key ("deployment_id") references "deployment" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "deployment_revision" add constraint "deployment_revision_version_id_foreign" foreign key ("version_id") references "application_version" ("id") on update cascade on delete no action;`);

    this.addSql(`alter table "status_transition" add constraint "status_transition_deployment_id_foreign" foreign key ("deployment_id") references "deployment" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "membership" add constraint "membership_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "membership" add constraint "membership_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "api_key" add constraint "api_key_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "api_key" add constraint "api_key_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "deployment_target" drop constraint "deployment_target_organization_id_foreign";`);

    this.addSql(`alter table "application" drop constraint "application_organization_id_foreign";`);

    this.addSql(`alter table "deployment" drop constraint "deployment_organization_id_foreign";`);

    this.addSql(`alter table "membership" drop constraint "membership_organization_id_foreign";`);

    this.addSql(`alter table "api_key" drop constraint "api_key_organization_id_foreign";`);

    this.addSql(`alter table "deleted_deployment" drop constraint "deleted_deployment_target_id_foreign";`);

    this.addSql(`alter table "agent_connection" drop constraint "agent_connection_target_id_foreign";`);

    this.addSql(`alter table "deployment" drop constraint "deployment_target_id_foreign";`);

    this.addSql(`alter table "application_version" drop constraint "application_version_application_id_foreign";`);

    this.addSql(`alter table "deployment" drop constraint "deployment_application_id_foreign";`);

    this.addSql(`alter table "deployment_revision" drop constraint "deployment_revision_version_id_foreign";`);

    this.addSql(`alter table "log_entry" drop constraint "log_entry_deployment_id_foreign";`);

    this.addSql(`alter table "deployment_status" drop constraint "deployment_status_deployment_id_foreign";`);

    this.addSql(`alter table "deployment_revision" drop constraint "deployment_revision_deployment_id_foreign";`);

    this.addSql(`alter table "status_transition" drop constraint "status_transition_deployment_id_foreign";`);

    this.addSql(`alter table "deployment" drop constraint "deployment_current_revision_id_foreign";`);

    this.addSql(`alter table "membership" drop constraint "membership_user_id_foreign";`);

    this.addSql(`alter table "api_key" drop constraint "api_key_user_id_foreign";`);

    this.addSql(`drop table if exists "organization" cascade;`);

    this.addSql(`drop table if exists "deployment_target" cascade;`);

    this.addSql(`drop table if exists "deleted_deployment" cascade;`);

    this.addSql(`drop table if exists "agent_connection" cascade;`);

    this.addSql(`drop table if exists "application" cascade;`);

    this.addSql(`drop table if exists "application_version" cascade;`);

    this.addSql(`drop table if exists "deployment" cascade;`);

    this.addSql(`drop table if exists "log_entry" cascade;`);

    this.addSql(`drop table if exists "deployment_status" cascade;`);

    this.addSql(`drop table if exists "deployment_revision" cascade;`);

    this.addSql(`drop table if exists "setting" cascade;`);

    this.addSql(`drop table if exists "status_transition" cascade;`);

    this.addSql(`drop table if exists "app_user" cascade;`);

    this.addSql(`drop table if exists "membership" cascade;`);

    this.addSql(`drop table if exists "api_key" cascade;`);

    this.addSql(`drop type "deployment_type";`);
    this.addSql(`drop type "target_scope";`);
    this.addSql(`drop type "chart_type";`);
    this.addSql(`drop type "compose_type";`);
    this.addSql(`drop type "deployment_phase";`);
    this.addSql(`drop type "membership_role";`);
  }

}
