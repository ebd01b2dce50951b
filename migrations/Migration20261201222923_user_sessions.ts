import { Migration } from '@mikro-orm/migrations';

export class Migration20261201222923_user_sessions extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "user_session" ("id" uuid not null, "token_hash" varchar(64) not null, "csrf_token" varchar(255) not null, "user_id" uuid not null, "organization_id" uuid not null, "created_at" timestamptz not null, "last_seen_at" timestamptz not null, "expires_at" timestamptz not null, constraint "user_session_pkey" primary key ("id"));`);
    this.addSql(`alter table "user_session" add constraint "user_session_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "user_session_expires_at_index" on "user_session" ("expires_at");`);

    this.addSql(`alter table "user_session" add constraint "user_session_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "user_session" add constraint "user_session_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "app_user" add column "password_hash" text null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "user_session" cascade;`);

    this.addSql(`alter table "app_user" drop column "password_hash";`);
  }

}
