import { Migration } from '@mikro-orm/migrations';

export class Migration20261201220415_version_checks extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "application_version" add column "chart_digest" varchar(255) null, add column "findings" jsonb null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "application_version" drop column "chart_digest", drop column "findings";`);
  }

}
