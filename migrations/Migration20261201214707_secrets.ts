import { Migration } from '@mikro-orm/migrations';

export class Migration20261201214707_secrets extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "registry_credential" ("id" uuid not null, "organization_id" uuid not null, "host" varchar(255) not null, "username" varchar(255) not null, "password_ciphertext" text not null, "application_ids" text[] not null default '{}', "target_ids" text[] not null default '{}', "created_at" timestamptz not null, "created_by" varchar(255) not null, "updated_at" timestamptz not null, "updated_by" varchar(255) not null, constraint "registry_credential_pkey" primary key ("id"));`);

    this.addSql(`create table "secret" ("id" uuid not null, "organization_id" uuid not null, "target_id" uuid null, "name" varchar(255) not null, "redeploy_on_change" boolean not null default false, "created_at" timestamptz not null, "updated_at" timestamptz not null, "updated_by" varchar(255) not null, constraint "secret_pkey" primary key ("id"));`);
    this.addSql(`create index "secret_target_id_index" on "secret" ("target_id");`);

    this.addSql(`create table "secret_value" ("id" uuid not null, "secret_id" uuid not null, "ciphertext" text not null, "created_at" timestamptz not null, "created_by" varchar(255) not null, constraint "secret_value_pkey" primary key ("id"));`);
    this.addSql(`create index "secret_value_secret_id_created_at_index" on "secret_value" ("secret_id", "created_at");`);

    this.addSql(`alter table "registry_credential" add constraint "registry_credential_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "secret" add constraint "secret_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "secret" add constraint "secret_target_id_foreign" foreign key ("target_id") references "deployment_target" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "secret_value" add constraint "secret_value_secret_id_foreign" foreign key ("secret_id") references "secret" ("id") on update cascade on delete cascade;`);

    // One organization-level and one target-level secret per name (the entities cannot say "where").
    this.addSql(`create unique index "secret_org_name_unique" on "secret" ("organization_id", "name") where "target_id" is null;`);
    this.addSql(`create unique index "secret_target_name_unique" on "secret" ("target_id", "name") where "target_id" is not null;`);
    this.addSql(`create index "registry_credential_organization_id_index" on "registry_credential" ("organization_id");`);
    // Secret values are append-only, except re-encryption under a new key (same plaintext).
    this.addSql(`create or replace function secret_value_append_only() returns trigger language plpgsql as $$
      begin
        if new.id <> old.id or new.secret_id <> old.secret_id or new.created_at <> old.created_at then
          raise exception 'secret values are append-only' using errcode = 'check_violation';
        end if;
        return new;
      end $$;`);
    this.addSql(`create trigger secret_value_append_only before update on "secret_value" for each row execute function secret_value_append_only();`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists secret_value_append_only on "secret_value";`);
    this.addSql(`drop function if exists secret_value_append_only();`);
    this.addSql(`alter table "secret_value" drop constraint "secret_value_secret_id_foreign";`);

    this.addSql(`drop table if exists "registry_credential" cascade;`);

    this.addSql(`drop table if exists "secret" cascade;`);

    this.addSql(`drop table if exists "secret_value" cascade;`);
  }

}
