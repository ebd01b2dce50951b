/**
 * The hub's cache of credential generations (server/auth/principal.ts), on a real database: the
 * misses of one event-loop turn (every agent coming back after a hub restart) are one query, and
 * a rotation event or a clear() during that query is not overwritten by what it read.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { GenerationCache } from '../server/auth/principal.js';
import { startTestPostgres, type TestPostgres } from './testkit/postgres.js';
import { startTestHub, type TestHub } from './testkit/hub.js';
import { createTarget } from './testkit/flow.js';

let pg: TestPostgres;
let hub: TestHub;
beforeAll(async () => {
  pg = await startTestPostgres();
  hub = await startTestHub(await pg.freshDatabase());
});
afterAll(async () => {
  await hub?.close();
  await pg?.stop();
});

/** The hub's own entity manager, counting the statements the cache runs through it. */
function countingEm(duringStatement?: () => void): { em: EntityManager; statements: string[] } {
  const statements: string[] = [];
  const root = hub.em();
  const em = new Proxy(root, {
    get(target, prop, receiver) {
      if (prop !== 'fork') return Reflect.get(target, prop, receiver);
      return () => {
        const forked = target.fork();
        return new Proxy(forked, {
          get(f, p, r) {
            if (p !== 'execute') return Reflect.get(f, p, r);
            return (sql: string, params: unknown[]) => {
              statements.push(sql);
              const result = f.execute(sql, params);
              duringStatement?.(); // the query is on its way to the database
              return result;
            };
          },
        });
      };
    },
  });
  return { em, statements };
}

async function targetWithGeneration(name: string, generation: number): Promise<string> {
  const target = await createTarget(hub.url, hub.apiKey, { name, type: 'docker' });
  await hub.em().execute('update deployment_target set credential_generation = ? where id = ?', [generation, target.id]);
  return target.id;
}

test('misses of one turn are loaded in one query; unknown targets are null', async () => {
  const ids = [await targetWithGeneration('g-a', 3), await targetWithGeneration('g-b', 5), await targetWithGeneration('g-c', 0)];
  const { em, statements } = countingEm();
  const cache = new GenerationCache(em);
  const unknown = randomUUID();
  expect(await Promise.all([...ids, unknown].map((id) => cache.get(id)))).toEqual([3, 5, 0, null]);
  expect(statements).toHaveLength(1);
  // Known ones are answered from memory; the unknown one is looked up again (it may exist by now).
  expect(await Promise.all(ids.map((id) => cache.get(id)))).toEqual([3, 5, 0]);
  expect(statements).toHaveLength(1);
  expect(await cache.get(unknown)).toBeNull();
  expect(statements).toHaveLength(2);
});

test('a rotation event during the load wins over what the load read; a clear() during it keeps it from filling the cache', async () => {
  const id = await targetWithGeneration('g-rotated', 1);
  const other = await targetWithGeneration('g-cleared', 4);
  let during: (() => void) | undefined;
  const { em, statements } = countingEm(() => during?.());
  const cache = new GenerationCache(em);
  during = () => cache.set(id, 2); // the rotation event arrives while the query is on its way
  expect(await cache.get(id)).toBe(2);
  expect(await cache.get(id)).toBe(2);
  expect(statements).toHaveLength(1);

  during = () => cache.clear(); // the bus reconnected: what is in flight may predate a missed rotation
  expect(await cache.get(other)).toBe(4);
  during = undefined;
  expect(await cache.get(other)).toBe(4);
  expect(statements).toHaveLength(3);
  expect(await cache.get(other)).toBe(4); // now cached
  expect(statements).toHaveLength(3);
});
