/** `distr api-keys …`: the organization's API keys (list, create, revoke); admin keys only. */
import { Command, Option } from 'commander';
import type { ApiKey } from '../../types.js';
import { globalsOf, serviceFor, UsageError } from '../context.js';
import { printJson, printTable } from '../output.js';

function keyState(key: ApiKey, now = new Date()): string {
  if (key.revokedAt) return `revoked ${key.revokedAt}`;
  if (key.expiresAt && Date.parse(key.expiresAt) <= now.getTime()) return `expired ${key.expiresAt}`;
  return key.expiresAt ? `active until ${key.expiresAt}` : 'active';
}

export function apiKeysCommand(): Command {
  const apiKeys = new Command('api-keys').alias('keys').description("list, create and revoke your organization's API keys (needs an admin key)");

  apiKeys
    .command('list')
    .alias('ls')
    .description('list API keys (their secrets are never shown again)')
    .action(async (_opts, cmd: Command) => {
      const keys = await serviceFor(cmd).listApiKeys();
      if (globalsOf(cmd).json) return printJson(keys);
      printTable(['ID', 'NAME', 'ROLE', 'CREATED', 'LAST USED', 'STATE'], keys.map((k) => [k.id, k.name, k.roleCap, k.createdAt, k.lastUsedAt, keyState(k)]));
    });

  apiKeys
    .command('create')
    .description('create an API key for yourself; its secret is printed once')
    .argument('<name>', 'what the key is for, e.g. ci')
    .addOption(new Option('--role <role>', 'its rights, at most your own (default: your role)').choices(['admin', 'read_write', 'read_only']))
    .option('--expires-at <time>', 'ISO 8601 time after which the key stops working, e.g. 2027-01-01T00:00:00Z')
    .action(async (name: string, opts: { role?: 'admin' | 'read_write' | 'read_only'; expiresAt?: string }, cmd: Command) => {
      if (opts.expiresAt !== undefined && Number.isNaN(Date.parse(opts.expiresAt))) {
        throw new UsageError(`--expires-at: "${opts.expiresAt}" is not an ISO 8601 time (e.g. 2027-01-01T00:00:00Z)`);
      }
      const created = await serviceFor(cmd).createApiKey({ name, roleCap: opts.role, expiresAt: opts.expiresAt ? new Date(opts.expiresAt) : undefined });
      if (globalsOf(cmd).json) return printJson(created);
      process.stdout.write(`created API key ${created.apiKey.name} (${created.apiKey.id}, ${created.apiKey.roleCap})\n`);
      process.stdout.write(`secret (shown once): ${created.secret}\n`);
    });

  apiKeys
    .command('revoke')
    .description('revoke an API key: it stops working at once')
    .argument('<key>', 'key id or name')
    .action(async (keyRef: string, _opts, cmd: Command) => {
      const service = serviceFor(cmd);
      const key = await service.resolveApiKey(keyRef);
      const revoked = await service.revokeApiKey(key.id);
      if (globalsOf(cmd).json) return printJson(revoked);
      process.stdout.write(`revoked API key ${revoked.name} (${revoked.id})\n`);
    });

  return apiKeys;
}
