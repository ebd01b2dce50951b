import type { HubEnv } from '../env.js';
import type { CheckSettings } from './checks.js';

export function checkSettings(env: HubEnv): CheckSettings {
  return {
    timeoutMs: env.DISTR_REGISTRY_TIMEOUT_SECONDS * 1000,
    allowUncheckedCharts: env.DISTR_ALLOW_UNCHECKED_CHARTS,
    checkImages: env.DISTR_CHECK_IMAGES,
  };
}
