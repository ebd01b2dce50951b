import type { EntityName } from '@mikro-orm/core';
import type { Context } from '../context.js';

/**
 * A batch load by primary key for the dataloader plugin: one `where id in (…)` per entity and
 * request, however many parents ask. Organization scoping happened when the parents were loaded.
 */
export function loadByIds<T extends { id: string }>(entity: EntityName<T>) {
  return async (ids: readonly string[], ctx: Context): Promise<T[]> =>
    ctx.em.find(entity, { id: { $in: [...ids] } } as never) as Promise<T[]>;
}

export const byId = (e: { id: string }) => e.id;
