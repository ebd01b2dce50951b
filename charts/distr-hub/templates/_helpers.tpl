{{/*
Expand the name of the chart.
*/}}
{{- define "distr-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (max 63 chars, the DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "distr-hub.fullname" -}}
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
Create chart name and version as used by the chart label.
*/}}
{{- define "distr-hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "distr-hub.labels" -}}
helm.sh/chart: {{ include "distr-hub.chart" . }}
{{ include "distr-hub.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: hub
app.kubernetes.io/part-of: distr
{{- end }}

{{/*
Selector labels
*/}}
{{- define "distr-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "distr-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the service account to use
*/}}
{{- define "distr-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "distr-hub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the Secret this chart creates for the database URL and the JWT secret.
*/}}
{{- define "distr-hub.secretName" -}}
{{- include "distr-hub.fullname" . }}
{{- end }}

{{/*
Whether this chart creates its Secret (only when a value has no existing Secret).
*/}}
{{- define "distr-hub.createSecret" -}}
{{- if or (not .Values.database.existingSecret) (and .Values.jwt.secret (not .Values.jwt.existingSecret)) -}}
true
{{- end }}
{{- end }}

{{/*
Image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "distr-hub.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
