import type { EntityManager } from '@mikro-orm/postgresql';
import type { EntityName, FilterQuery } from '@mikro-orm/core';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { NotFoundError } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Load one row of the caller's organization by id. A malformed id, an unknown id and another
 * organization's id all give the same NotFoundError, so ids leak nothing across organizations.
 */
export async function findOwned<T extends object>(
  em: EntityManager,
  entity: EntityName<T>,
  label: string,
  id: string,
  organizationFilter: FilterQuery<T>,
  populate?: readonly string[],
): Promise<T> {
  if (!UUID.test(id)) throw new NotFoundError(label, id);
  const found = await em.findOne(entity, { $and: [{ id } as FilterQuery<T>, organizationFilter] } as FilterQuery<T>, {
    populate: populate as never,
  });
  if (!found) throw new NotFoundError(label, id);
  return found;
}

export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/** Flush, turning a unique-constraint violation into the caller's typed conflict error. */
export async function flushOrConflict(em: EntityManager, conflict: () => Error): Promise<void> {
  // Inside a transaction (e.g. an idempotent request's), a failed statement would abort it all:
  // a savepoint keeps the conflict to this flush, so the caller can still answer and commit.
  const savepoint = em.isInTransaction();
  if (savepoint) await em.execute('savepoint distr_flush');
  try {
    await em.flush();
    if (savepoint) await em.execute('release savepoint distr_flush');
  } catch (e) {
    if (e instanceof UniqueConstraintViolationException) {
      if (savepoint) await em.execute('rollback to savepoint distr_flush');
      em.clear();
      throw conflict();
    }
    throw e;
  }
}
