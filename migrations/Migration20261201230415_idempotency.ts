import { Migration } from '@mikro-orm/migrations';

export class Migration20261201230415_idempotency extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "idempotency_record" ("id" bigserial primary key, "api_key_id" uuid not null, "key" varchar(200) not null, "request_hash" varchar(64) not null, "response" text not null, "created_at" timestamptz not null);`);
    this.addSql(`create index "idempotency_record_created_at_index" on "idempotency_record" ("created_at");`);
    this.addSql(`alter table "idempotency_record" add constraint "idempotency_record_api_key_id_key_unique" unique ("api_key_id", "key");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "idempotency_record" cascade;`);
  }

}
