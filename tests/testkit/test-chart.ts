/**
 * A small Helm chart for tests: a Deployment, a Service and a ConfigMap, all driven by values
 * (image, replicas, message, containerName), and with `extraWorkloads` a StatefulSet with a volume
 * claim template, a DaemonSet and a Job. Written to a folder, ready for `helm package`.
 *
 * Faults for the test cluster, whose pods kwok simulates: `fault` labels the Deployment's pods
 * distr.test/kwok-fault=<never-ready|crash-loop|fail> (kwok stages in
 * scripts/k8s-tools/kwok-pod-stages.yaml), `jobFault` the Job's; `unschedulable` gives the pods a
 * node selector no node matches, so the real scheduler never places them;
 * `progressDeadlineSeconds` is the Deployment's.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';

export interface TestChartOptions {
  name?: string;
  version?: string;
  appVersion?: string;
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Values.workloadName | default .Release.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  progressDeadlineSeconds: {{ .Values.progressDeadlineSeconds }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
        {{- with .Values.fault }}
        distr.test/kwok-fault: {{ . }}
        {{- end }}
      annotations:
        checksum/config: {{ .Values.message | sha256sum }}
    spec:
      {{- if .Values.unschedulable }}
      nodeSelector:
        distr.test/no-such-node: "true"
      {{- end }}
      containers:
        - name: {{ .Values.containerName }}
          image: {{ .Values.image }}
          ports:
            - containerPort: 8080
          envFrom:
            - configMapRef:
                name: {{ .Release.Name }}-config
`;

const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - port: 80
      targetPort: 8080
`;

const CONFIGMAP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  MESSAGE: {{ .Values.message | quote }}
`;

/** Optional workloads of every other kind, on with `extraWorkloads: true`. */
const EXTRA_WORKLOADS = `{{- if .Values.extraWorkloads }}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .Release.Name }}-db
spec:
  serviceName: {{ .Release.Name }}-db
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}-db
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}-db
    spec:
      containers:
        - name: db
          image: example.test/db:1
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 1Gi
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .Release.Name }}-agent
spec:
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}-agent
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}-agent
    spec:
      containers:
        - name: agent
          image: example.test/agent:1
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
spec:
  backoffLimit: {{ .Values.jobBackoffLimit }}
  template:
    metadata:
      {{- with .Values.jobFault }}
      labels:
        distr.test/kwok-fault: {{ . }}
      {{- end }}
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: example.test/migrate:1
{{- end }}
`;

/** Write the chart into `parentDir/<name>` and return that folder. */
export async function writeTestChart(parentDir: string, options: TestChartOptions = {}): Promise<string> {
  const name = options.name ?? 'web';
  const dir = path.join(parentDir, `${name}-${options.version ?? '1.0.0'}`, name);
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), YAML.stringify({ apiVersion: 'v2', name, version: options.version ?? '1.0.0', appVersion: options.appVersion ?? '1.0.0', type: 'application' }));
  await writeFile(
    path.join(dir, 'values.yaml'),
    YAML.stringify({
      image: 'example.test/web:1',
      replicas: 1,
      message: 'hello',
      containerName: 'web',
      workloadName: '',
      extraWorkloads: false,
      progressDeadlineSeconds: 600,
      fault: '',
      unschedulable: false,
      jobFault: '',
      jobBackoffLimit: 6,
    }),
  );
  await writeFile(path.join(dir, 'templates', 'deployment.yaml'), DEPLOYMENT);
  await writeFile(path.join(dir, 'templates', 'service.yaml'), SERVICE);
  await writeFile(path.join(dir, 'templates', 'configmap.yaml'), CONFIGMAP);
  await writeFile(path.join(dir, 'templates', 'extra-workloads.yaml'), EXTRA_WORKLOADS);
  return dir;
}
