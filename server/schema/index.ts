import { lexicographicSortSchema } from 'graphql';
import { builder } from './builder.js';
import './errors.js';
import '../orgs/types.js';
import '../applications/types.js';
import '../targets/types.js';
import '../deployments/types.js';
import '../secrets/types.js';
import '../deployments/logs.js';
import '../deployments/summary.js';
import '../agents/types.js';
import '../events/types.js';
import '../validation/types.js';
import '../rollouts/types.js';
import '../rollouts/preview-types.js';
import '../rollouts/runtime-preview-types.js';

/** The whole API, types sorted so the printed schema.graphql is stable. */
export const schema = lexicographicSortSchema(builder.toSchema());
