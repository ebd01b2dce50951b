/** Test helpers around the stand-in Kubernetes API server (a test double; see kube-standin.ts). */
export { startKubeStandIn } from './kube-standin.js';
export type { KubeObject, KubeStandIn, KubeStandInOptions, ReadinessOptions } from './kube-standin.js';
export { HELM_BIN, createHelmTestEnv, helmSqlConnectionString } from './helm-env.js';
export type { HelmTestEnv } from './helm-env.js';
export { packageCharts, serveChartRepo } from './chart-repo.js';
export type { ChartRepo } from './chart-repo.js';
export { serveOciRegistry } from './oci-registry.js';
export type { OciRegistry } from './oci-registry.js';
export { writeTestChart } from './test-chart.js';
export type { TestChartOptions } from './test-chart.js';
