import type { EntityManager } from '@mikro-orm/postgresql';
import type { HubEnv } from './env.js';
import type { EventBus } from './events/bus.js';
import type { Logger } from './logger.js';
import type { Role } from './orgs/entities.js';
import type { AgentTokens } from './auth/agent-tokens.js';
import type { AgentConnections } from './agents/connections.js';
import type { LoginRateLimiter } from './auth/rate-limit.js';
import type { DesiredStateFanout } from './agents/fanout.js';
import type { GenerationCache } from './auth/principal.js';
import type { Keyring } from './secrets/encryption.js';
import type { RolloutController } from './rollouts/controller.js';
import type { VendorSockets } from './auth/vendor-sockets.js';
import type { HubMetrics } from './metrics/metrics.js';

/** A vendor calling with an API key, or a person signed in to the console (a session cookie). */
export interface VendorPrincipal {
  kind: 'vendor';
  organizationId: string;
  userId: string;
  /** The user's role, capped by the key's role cap. */
  role: Role;
  /** The API key used, or null for a console session. */
  apiKeyId: string | null;
  /** The console session used, if any; its CSRF token must accompany cookie-authenticated writes. */
  sessionId?: string;
  csrfToken?: string;
  /** Recorded on revisions as `createdBy`. */
  label: string;
}

/** An agent holding a token for exactly one target. */
export interface AgentPrincipal {
  kind: 'agent';
  organizationId: string;
  targetId: string;
  generation: number;
}

export type Principal = VendorPrincipal | AgentPrincipal;

/** Process-wide parts of the hub, shared by every request. */
export interface HubRuntime {
  env: HubEnv;
  logger: Logger;
  bus: EventBus;
  agentTokens: AgentTokens;
  connections: AgentConnections;
  loginLimiter: LoginRateLimiter;
  fanout: DesiredStateFanout;
  generations: GenerationCache;
  /** Encrypts secrets and registry passwords at rest (the key never goes to the database). */
  keyring: Keyring;
  /** This process's websockets opened with vendor API keys (closed on revocation and expiry). */
  vendorSockets: VendorSockets;
  metrics: HubMetrics;
  /** Unique per hub process; tags this process's agent connection rows. */
  instanceId: string;
  /** Root EntityManager: fork it, never use it directly. */
  rootEm: EntityManager;
  /** Steps running rollouts while this replica leads (see server/rollouts/controller.ts). */
  rollouts: RolloutController;
}

export interface Context {
  /** A fresh fork per request / per websocket operation. */
  em: EntityManager;
  principal: Principal | null;
  hub: HubRuntime;
}
