{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "roster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. The release name alone when it already contains the
chart name. Truncated to 54 so suffixes such as "-migrations" and "-headless"
still fit in 63.
*/}}
{{- define "roster.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "roster.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object, without the component. */}}
{{- define "roster.baseLabels" -}}
helm.sh/chart: {{ include "roster.chart" . }}
app.kubernetes.io/name: {{ include "roster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: roster
{{- end }}

{{/* Labels of the server's objects. */}}
{{- define "roster.labels" -}}
{{ include "roster.baseLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* Labels of the migration hook's objects. */}}
{{- define "roster.migrationsLabels" -}}
{{ include "roster.baseLabels" . }}
app.kubernetes.io/component: migrations
{{- end }}

{{/* Selector labels of the server pods (the migration Job's pods differ in component). */}}
{{- define "roster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "roster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "roster.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "roster.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The migration hook runs before the chart's ServiceAccount exists. */}}
{{- define "roster.migrationsServiceAccountName" -}}
{{- if .Values.migrations.serviceAccountName }}
{{- .Values.migrations.serviceAccountName }}
{{- else if not .Values.serviceAccount.create }}
{{- include "roster.serviceAccountName" . }}
{{- else }}
{{- "default" }}
{{- end }}
{{- end }}

{{- define "roster.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Name of the Secret with the database URL and the JWT secret. */}}
{{- define "roster.secretName" -}}
{{- .Values.existingSecret | default (include "roster.fullname" .) }}
{{- end }}

{{/* "true" when JWT public keys are configured. */}}
{{- define "roster.publicKeysEnabled" -}}
{{- if and .Values.jwt.publicKeys.secretName .Values.jwt.publicKeys.files }}true{{ end }}
{{- end }}

{{/* "true" when the pods get ROSTER_JWT_SECRET from the Secret. */}}
{{- define "roster.jwtSecretEnabled" -}}
{{- if .Values.secretKeys.jwtSecret }}
{{- if or .Values.existingSecret .Values.jwt.secret (not (include "roster.publicKeysEnabled" .)) }}true{{ end }}
{{- end }}
{{- end }}

{{/* Refuses configurations that would deploy pods unable to verify any token. */}}
{{- define "roster.validate" -}}
{{- if and (not (include "roster.jwtSecretEnabled" .)) (not (include "roster.publicKeysEnabled" .)) }}
{{- fail "roster needs an HS256 secret (secretKeys.jwtSecret) or JWT public keys (jwt.publicKeys.secretName and jwt.publicKeys.files)" }}
{{- end }}
{{- if and .Values.jwt.publicKeys.secretName (not .Values.jwt.publicKeys.files) }}
{{- fail "jwt.publicKeys.secretName is set but jwt.publicKeys.files is empty" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- if and .Values.prometheusRule.enabled (not .Values.metrics.enabled) }}
{{- fail "prometheusRule.enabled needs metrics.enabled (without metrics its alerts report every replica down)" }}
{{- end }}
{{- end }}

{{/* Comma-separated paths of the mounted JWT public keys. */}}
{{- define "roster.publicKeyPaths" -}}
{{- $dir := .Values.jwt.publicKeys.mountPath | trimSuffix "/" }}
{{- $paths := list }}
{{- range .Values.jwt.publicKeys.files }}
{{- $paths = append $paths (printf "%s/%s" $dir .) }}
{{- end }}
{{- join "," $paths }}
{{- end }}
