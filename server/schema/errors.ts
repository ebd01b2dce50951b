import { ConflictError, DistrError, InvalidInputError, NotFoundError, RuleViolationError } from '../errors.js';
import { builder } from './builder.js';

/** Every typed error has a message a person can act on. */
export const ErrorInterface = builder.interfaceRef<DistrError>('Error').implement({
  fields: (t) => ({ message: t.exposeString('message') }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'The id does not exist, or belongs to another organization.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ entity: t.exposeString('entity'), entityId: t.exposeString('entityId') }),
});

builder.objectType(InvalidInputError, {
  name: 'InvalidInputError',
  description: 'An input field is malformed; `field` names it.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ field: t.exposeString('field') }),
});

builder.objectType(RuleViolationError, {
  name: 'RuleViolationError',
  description: 'Well-formed input that breaks a business rule; `rule` names it (type_mismatch, version_in_use, …).',
  interfaces: [ErrorInterface],
  fields: (t) => ({ rule: t.exposeString('rule') }),
});

builder.objectType(ConflictError, {
  name: 'ConflictError',
  description: 'A name that must be unique is taken.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ field: t.exposeString('field') }),
});

/** The typed errors a mutation can return. */
export const MUTATION_ERRORS = [NotFoundError, InvalidInputError, RuleViolationError, ConflictError];

/** Result of a delete: the id that no longer exists. */
export const DeletedRef = builder.objectRef<{ id: string }>('Deleted').implement({
  fields: (t) => ({ id: t.exposeID('id') }),
});
