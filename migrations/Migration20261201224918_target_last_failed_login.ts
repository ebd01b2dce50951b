import { Migration } from '@mikro-orm/migrations';

export class Migration20261201224918_target_last_failed_login extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "deployment_target" add column "last_login_failure_at" timestamptz null, add column "last_login_failure_reason" varchar(255) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "deployment_target" drop column "last_login_failure_at", drop column "last_login_failure_reason";`);
  }

}
