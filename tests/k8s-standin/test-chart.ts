/**
 * A small Helm chart for tests: a Deployment, a Service and a ConfigMap, all driven by values
 * (image, replicas, message, containerName). Written to a folder, ready for `helm package`.
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
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
      annotations:
        checksum/config: {{ .Values.message | sha256sum }}
    spec:
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
  template:
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
  await writeFile(path.join(dir, 'values.yaml'), YAML.stringify({ image: 'example.test/web:1', replicas: 1, message: 'hello', containerName: 'web', workloadName: '', extraWorkloads: false }));
  await writeFile(path.join(dir, 'templates', 'deployment.yaml'), DEPLOYMENT);
  await writeFile(path.join(dir, 'templates', 'service.yaml'), SERVICE);
  await writeFile(path.join(dir, 'templates', 'configmap.yaml'), CONFIGMAP);
  await writeFile(path.join(dir, 'templates', 'extra-workloads.yaml'), EXTRA_WORKLOADS);
  return dir;
}
