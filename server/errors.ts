/**
 * The hub's expected failures. Services throw these; the Pothos errors plugin turns them into
 * typed union members of mutation results, with a message a person can act on. Anything else
 * becomes a masked "Unexpected error." (or a GraphQLError with extensions.code for auth).
 */
export class DistrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The id does not exist, or belongs to another organization (the two look the same). */
export class NotFoundError extends DistrError {
  constructor(
    readonly entity: string,
    readonly entityId: string,
  ) {
    super(`${entity} ${entityId} not found`);
  }
}

/** Bad input: names the field and what is wrong with it. */
export class InvalidInputError extends DistrError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** The input is well-formed but breaks a business rule (type mismatch, immutability, in use…). */
export class RuleViolationError extends DistrError {
  constructor(
    readonly rule: string,
    message: string,
  ) {
    super(message);
  }
}

/** A name or release that must be unique already exists. */
export class ConflictError extends DistrError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
