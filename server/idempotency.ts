import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { createHash } from 'node:crypto';
import { GraphQLError, print, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from './context.js';

/**
 * Idempotent write mutations: a vendor request carrying an `Idempotency-Key` header runs in ONE
 * transaction together with a record of its response, keyed by (API key, idempotency key). A
 * retry with the same key gets the recorded response and writes nothing again, so a client that
 * saw a failure although the mutation committed (a dropped connection, a database restart) can
 * retry safely. The same key with a different request is refused (422). Records live 24 hours.
 * Secret-bearing fields (`secret`, `token`) are not recorded: a replay shows them as null.
 */
export const IdempotencyRecord = defineEntity({
  name: 'IdempotencyRecord',
  uniques: [{ properties: ['apiKeyId', 'key'] }],
  indexes: [{ properties: ['createdAt'] }],
  properties: {
    id: p.bigint().primary().autoincrement(),
    apiKeyId: p.uuid(),
    key: p.string().length(200),
    requestHash: p.string().length(64),
    response: p.text(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type IdempotencyRecord = InferEntity<typeof IdempotencyRecord>;

const RETENTION_HOURS = 24;
const KEY = /^[\x21-\x7e]{1,200}$/;
const SECRET_FIELDS = new Set(['secret', 'token']);

export function idempotencyPlugin(): Plugin<Context> {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const ctx = args.contextValue as Context & { request?: Request };
      const header = ctx.request?.headers.get('idempotency-key');
      if (!header || ctx.principal?.kind !== 'vendor' || !isMutation(args.document, args.operationName)) return;
      const principal = ctx.principal;
      setExecuteFn(async (execArgs) => {
        if (!KEY.test(header)) return refusal('the Idempotency-Key header must be 1 to 200 printable ASCII characters', 'BAD_IDEMPOTENCY_KEY', 400);
        const requestHash = createHash('sha256')
          .update(JSON.stringify([print(execArgs.document), execArgs.operationName ?? null, execArgs.variableValues ?? {}]))
          .digest('hex');
        return ctx.em.transactional(async (tx) => {
          const table = tx.getMetadata(IdempotencyRecord).tableName;
          // Concurrent retries of one key wait for each other here.
          await tx.execute(`select pg_advisory_xact_lock(hashtextextended(?, 0))`, [`${principal.apiKeyId}:${header}`]);
          const [seen] = await tx.execute(`select request_hash, response from ${table} where api_key_id = ? and key = ?`, [principal.apiKeyId, header]);
          if (seen) {
            if (seen.request_hash !== requestHash) return refusal('this Idempotency-Key was used for a different request', 'IDEMPOTENCY_KEY_REUSED', 422);
            return { ...(JSON.parse(seen.response) as ExecutionResult), extensions: { idempotentReplay: true } };
          }
          const result = (await executeFn({ ...execArgs, contextValue: Object.assign(execArgs.contextValue as Context, { em: tx }) })) as ExecutionResult;
          if (result.errors?.length) throw new UnrecordedResult(result); // roll back: a retry runs it again
          await tx.execute(`delete from ${table} where created_at < now() - interval '${RETENTION_HOURS} hours'`);
          await tx.execute(`insert into ${table} (api_key_id, key, request_hash, response, created_at) values (?, ?, ?, ?, now())`, [
            principal.apiKeyId,
            header,
            requestHash,
            JSON.stringify(withoutSecrets(result)),
          ]);
          return result;
        }).catch((err) => {
          if (err instanceof UnrecordedResult) return err.result;
          throw err;
        });
      });
    },
  };
}

/** A result with errors is returned as is and nothing of its request is kept. */
class UnrecordedResult extends Error {
  constructor(readonly result: ExecutionResult) {
    super('unrecorded');
  }
}

function refusal(message: string, code: string, status: number): ExecutionResult {
  return { errors: [new GraphQLError(message, { extensions: { code, http: { status } } })] };
}

function isMutation(document: DocumentNode, operationName?: string | null): boolean {
  const ops = document.definitions.filter((d) => d.kind === 'OperationDefinition');
  const op = operationName ? ops.find((d) => d.name?.value === operationName) : ops[0];
  return op?.operation === 'mutation';
}

function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_FIELDS.has(k) ? null : withoutSecrets(v)]));
  }
  return value;
}
