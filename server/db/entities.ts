import { ApplicationVersion, Application } from '../applications/entities.js';
import { ApiKey, Session } from '../auth/entities.js';
import {
  DeletedDeployment,
  Deployment,
  DeploymentRevision,
  DeploymentStatus,
  LogEntry,
  StatusTransition,
} from '../deployments/entities.js';
import { IdempotencyRecord } from '../idempotency.js';
import { Invitation, Membership, Organization, Setting, User } from '../orgs/entities.js';
import { AgentConnection, DeploymentTarget } from '../targets/entities.js';
import { RegistryCredential, Secret, SecretValue } from '../secrets/entities.js';
import { Rollout, RolloutEvent, RolloutMember, RuntimePreview } from '../rollouts/entities.js';

/** Every entity of the hub, in one list for the ORM and the migrator. */
export const entities = [
  Organization,
  User,
  Membership,
  Invitation,
  Setting,
  ApiKey,
  Session,
  Application,
  ApplicationVersion,
  DeploymentTarget,
  AgentConnection,
  Deployment,
  DeploymentRevision,
  DeploymentStatus,
  StatusTransition,
  DeletedDeployment,
  LogEntry,
  Secret,
  SecretValue,
  RegistryCredential,
  IdempotencyRecord,
  Rollout,
  RolloutMember,
  RolloutEvent,
  RuntimePreview,
];
