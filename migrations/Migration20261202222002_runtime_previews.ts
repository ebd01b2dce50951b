import { Migration } from '@mikro-orm/migrations';

export class Migration20261202222002_runtime_previews extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create type "runtime_preview_state" as enum ('pending', 'done', 'failed', 'expired');`);
    this.addSql(`create table "runtime_preview" ("id" uuid not null, "organization_id" uuid not null, "deployment_id" uuid not null, "target_id" uuid not null, "version_id" uuid not null, "env_file" text null, "values_yaml" text null, "state" "runtime_preview_state" not null, "requested_by" varchar(255) not null, "requested_at" timestamptz not null, "expires_at" timestamptz not null, "completed_at" timestamptz null, "base_revision_id" uuid null, "diff" text null, "services" jsonb null, "message" text null, constraint "runtime_preview_pkey" primary key ("id"));`);
    this.addSql(`create index "runtime_preview_target_id_state_index" on "runtime_preview" ("target_id", "state");`);
    this.addSql(`create index "runtime_preview_deployment_id_requested_at_index" on "runtime_preview" ("deployment_id", "requested_at");`);

    this.addSql(`alter table "runtime_preview" add constraint "runtime_preview_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "runtime_preview" add constraint "runtime_preview_deployment_id_foreign" foreign key ("deployment_id") references "deployment" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "runtime_preview" add constraint "runtime_preview_target_id_foreign" foreign key ("target_id") references "deployment_target" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "runtime_preview" add constraint "runtime_preview_version_id_foreign" foreign key ("version_id") references "application_version" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "runtime_preview" cascade;`);

    this.addSql(`drop type "runtime_preview_state";`);
  }

}
