{{/*
Names. Kubernetes names and label values are limited to 63 characters, so every name is
truncated to 63 and loses a trailing "-".
*/}}
{{- define "ringlb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ringlb.fullname" -}}
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

{{/* "<fullname>-<component>", still at most 63 characters. Call with (list $ "operator"). */}}
{{- define "ringlb.componentName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "ringlb.fullname" $root | trunc (int (sub 62 (len (index . 1))))) (index . 1) | trimSuffix "-" }}
{{- end }}

{{- define "ringlb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels of every object. */}}
{{- define "ringlb.labels" -}}
helm.sh/chart: {{ include "ringlb.chart" . }}
{{ include "ringlb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ringlb
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: name and instance only; they never change across upgrades. */}}
{{- define "ringlb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ringlb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Per-component labels. Two Deployments live in one release, so their selectors add the (equally
immutable) app.kubernetes.io/component to name and instance. Call with (list $ "operator").
*/}}
{{- define "ringlb.componentLabels" -}}
{{ include "ringlb.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "ringlb.componentSelectorLabels" -}}
{{ include "ringlb.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "ringlb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ringlb.componentName" (list . "operator")) .Values.serviceAccount.name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ringlb.image" -}}
{{- $root := index . 0 }}
{{- $image := index . 1 }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}

{{/* The operator's ring API as the proxies reach it. */}}
{{- define "ringlb.ringUrl" -}}
{{- printf "http://%s.%s.svc:%d/v1/rings/%s/%s" (include "ringlb.componentName" (list . "operator")) .Release.Namespace (int .Values.operator.service.port) .Release.Namespace .Values.proxy.ring }}
{{- end }}

{{/* Restricted Pod Security Standard, pod level. */}}
{{- define "ringlb.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "ringlb.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* True when the cluster serves the ServiceMonitor API and the values ask for monitors. */}}
{{- define "ringlb.serviceMonitorEnabled" -}}
{{- if and .Values.metrics.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor") }}true{{ end }}
{{- end }}

{{/* Name of the operator's leader-election Lease. */}}
{{- define "ringlb.leaseName" -}}
{{- include "ringlb.componentName" (list . "operator") }}
{{- end }}

{{/* --tls-cert for the proxy: the main Secret first (the default certificate), then the extra ones. */}}
{{- define "ringlb.proxyTlsCertificates" -}}
{{- $files := list "/etc/ringlb/tls/tls.crt:/etc/ringlb/tls/tls.key" -}}
{{- range .Values.proxy.tls.extraSecretNames -}}
{{- $files = append $files (printf "/etc/ringlb/tls-extra/%s/tls.crt:/etc/ringlb/tls-extra/%s/tls.key" . .) -}}
{{- end -}}
{{- join "," $files -}}
{{- end }}
