import { CloseCode } from 'graphql-ws/client';

/**
 * The websocket close codes of the agent socket: graphql-ws's own `CloseCode` values (the GraphQL
 * over WebSocket protocol), plus the standard 1001 "going away". docs/agent-protocol.md says what
 * an agent does for each.
 */
export const AgentCloseCode = {
  /** No token, a token that is not an agent token or API key, a bad signature, an expired token: log in again. */
  Unauthorized: CloseCode.Unauthorized,
  /** Valid but no longer allowed: the target's credential was rotated, the target deleted, an API key revoked. */
  Forbidden: CloseCode.Forbidden,
  /** The client broke the protocol (an invalid message). */
  BadRequest: CloseCode.BadRequest,
  /** No connection_init within the hub's wait. */
  ConnectionInitialisationTimeout: CloseCode.ConnectionInitialisationTimeout,
  /** A second connection_init on one socket. */
  TooManyInitialisationRequests: CloseCode.TooManyInitialisationRequests,
  /** The hub failed while handling the socket. */
  InternalServerError: CloseCode.InternalServerError,
  /** The hub is shutting down (standard websocket code). */
  GoingAway: 1001,
  /** The hub could not authenticate the socket right now, e.g. its database is unavailable (standard websocket code). */
  InternalError: 1011,
} as const;
export type AgentCloseCodeValue = (typeof AgentCloseCode)[keyof typeof AgentCloseCode];
