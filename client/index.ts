/**
 * The distr vendor client: `import { DistrService } from 'distr-ts'` (the package exports this file;
 * there is no build step, so consumers run it through tsx or a bundler that compiles TypeScript).
 */
export { DistrService } from './service.js';
export {
  DistrError,
  DistrNotFoundError,
  DistrInvalidInputError,
  DistrRuleViolationError,
  DistrConflictError,
  DistrAmbiguousError,
  DistrRequestError,
  type DeploymentCandidate,
  type DistrRequestErrorCode,
} from './errors.js';
export { latestVersion, isBehind, semverOf } from './versions.js';
export type { WatchOptions, FollowLogsOptions } from './watch.js';
export type * from './types.js';
export type { ValidationResult, ValidationFinding } from './types.js';
export { RolloutsClient } from './rollouts.js';
export type { Rollout, RolloutProgress, RolloutWatch, CreateRolloutRequest, MaintenanceWindow, LabeledTarget, DeploymentPreview, RolloutPreview, RuntimePreview, RuntimePreviewUpdate, Watch } from './rollouts.js';
