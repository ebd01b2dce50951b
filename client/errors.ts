/**
 * Exceptions of the distr client. The hub answers a refused mutation with a typed error object in the
 * result union; those become DistrError subclasses carrying the hub's exact message. Everything else
 * (network, HTTP, top-level GraphQL errors) becomes a DistrRequestError with the hub's error code.
 */
import { ClientError } from 'graphql-request';

/** The hub refused the call (a typed error of the mutation's result union, or an unknown id). */
export class DistrError extends Error {
  override name = 'DistrError';
}

/** The id does not exist, or belongs to another organization. */
export class DistrNotFoundError extends DistrError {
  override name = 'DistrNotFoundError';
  constructor(
    message: string,
    readonly entity: string,
    readonly entityId: string,
  ) {
    super(message);
  }
}

/** An input field is malformed; `field` names it (e.g. `composeFile`). */
export class DistrInvalidInputError extends DistrError {
  override name = 'DistrInvalidInputError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Well-formed input that breaks a business rule; `rule` names it (e.g. `type_mismatch`). */
export class DistrRuleViolationError extends DistrError {
  override name = 'DistrRuleViolationError';
  constructor(
    message: string,
    readonly rule: string,
  ) {
    super(message);
  }
}

/** A name that must be unique is taken; `field` names it. */
export class DistrConflictError extends DistrError {
  override name = 'DistrConflictError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** One of the deployments an ambiguous call could mean. */
export interface DeploymentCandidate {
  deploymentId: string;
  applicationName: string;
  versionName: string;
  /** Kubernetes deployments. */
  releaseName: string | null;
}

/**
 * The call names a target (not a deployment) and the target holds more than one deployment that
 * fits; `candidates` lists them. Pass `deploymentId` to choose. Nothing was changed.
 */
export class DistrAmbiguousError extends DistrError {
  override name = 'DistrAmbiguousError';
  constructor(
    message: string,
    readonly candidates: DeploymentCandidate[],
  ) {
    super(message);
  }
}

/** Error codes the hub puts in `extensions.code`, plus NETWORK when no HTTP answer arrived. */
export type DistrRequestErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND' | 'BAD_INPUT' | 'RATE_LIMITED' | 'INTERNAL' | 'NETWORK' | (string & {});

/** The request failed outside the typed-error contract: unreachable hub, bad key, invalid query, server error. */
export class DistrRequestError extends Error {
  override name = 'DistrRequestError';
  constructor(
    message: string,
    readonly code: DistrRequestErrorCode,
    /** HTTP status, when the hub answered. */
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Bad or missing API key, or a key whose role may not do this. */
  get isAuthFailure(): boolean {
    return this.code === 'UNAUTHENTICATED' || this.code === 'FORBIDDEN';
  }
}

/** A typed error as selected by the ErrorFields fragment. */
export type HubTypedError =
  | { __typename: 'NotFoundError'; message: string; entity: string; entityId: string }
  | { __typename: 'InvalidInputError'; message: string; field: string }
  | { __typename: 'RuleViolationError'; message: string; rule: string }
  | { __typename: 'ConflictError'; message: string; field: string };

export function typedErrorToException(error: HubTypedError): DistrError {
  switch (error.__typename) {
    case 'NotFoundError':
      return new DistrNotFoundError(error.message, error.entity, error.entityId);
    case 'InvalidInputError':
      return new DistrInvalidInputError(error.message, error.field);
    case 'RuleViolationError':
      return new DistrRuleViolationError(error.message, error.rule);
    case 'ConflictError':
      return new DistrConflictError(error.message, error.field);
  }
}

/** Translate whatever graphql-request threw into a DistrRequestError. */
export function requestErrorFrom(err: unknown, hubUrl: string): DistrRequestError {
  if (err instanceof DistrRequestError) return err;
  if (err instanceof ClientError) {
    const first = err.response.errors?.[0];
    const code = typeof first?.extensions?.code === 'string' ? first.extensions.code : httpStatusCode(err.response.status);
    const message = first?.message ?? `hub answered HTTP ${err.response.status}`;
    return new DistrRequestError(message, code, err.response.status, { cause: err });
  }
  // fetch rejects with a TypeError whose cause is the socket error (ECONNREFUSED, ENOTFOUND, …).
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const detail = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
  return new DistrRequestError(`cannot reach the hub at ${hubUrl}: ${detail}`, 'NETWORK', undefined, { cause: err });
}

function httpStatusCode(status: number): DistrRequestErrorCode {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  return status >= 500 ? 'INTERNAL' : `HTTP_${status}`;
}
