{{/*
Expand the name of the chart.
*/}}
{{- define "distr-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (max 63 chars, the DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "distr-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name for cluster-scoped objects (ClusterRole, ClusterRoleBinding): qualified with the release
namespace so agents installed in different namespaces do not collide.
*/}}
{{- define "distr-agent.clusterResourceName" -}}
{{- printf "%s-%s" .Release.Namespace (include "distr-agent.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "distr-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "distr-agent.labels" -}}
helm.sh/chart: {{ include "distr-agent.chart" . }}
{{ include "distr-agent.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: distr
{{- end }}

{{/*
Selector labels
*/}}
{{- define "distr-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "distr-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the service account to use
*/}}
{{- define "distr-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "distr-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the target secret, and the key inside it.
*/}}
{{- define "distr-agent.secretName" -}}
{{- if .Values.target.existingSecret }}
{{- .Values.target.existingSecret }}
{{- else }}
{{- include "distr-agent.fullname" . }}
{{- end }}
{{- end }}

{{- define "distr-agent.secretKey" -}}
{{- if .Values.target.existingSecret }}
{{- .Values.target.existingSecretKey | default "secret" }}
{{- else -}}
secret
{{- end }}
{{- end }}

{{/*
Image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "distr-agent.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
