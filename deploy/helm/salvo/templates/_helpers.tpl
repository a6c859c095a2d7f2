{{/* The release's base name: the release name, with "-salvo" unless it says salvo. */}}
{{- define "salvo.fullname" -}}
{{- if contains "salvo" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-salvo" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "salvo.masters" -}}{{ include "salvo.fullname" . }}-master{{- end -}}
{{- define "salvo.workers" -}}{{ include "salvo.fullname" . }}-worker{{- end -}}
{{/* The headless Service: the masters' stable names and gossip. */}}
{{- define "salvo.headless" -}}{{ include "salvo.fullname" . }}-masters{{- end -}}

{{- define "salvo.labels" -}}
app.kubernetes.io/name: salvo
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "salvo.selector" -}}
app.kubernetes.io/name: salvo
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "salvo.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}

{{/* The masters' image: salvo's, or with scaling on one that has /bin/sh and kubectl. */}}
{{- define "salvo.masterImage" -}}
{{- if .Values.scaling.enabled -}}
{{- if not .Values.scaling.image.repository -}}
{{- fail "scaling.enabled needs scaling.image.repository: an image with salvo, /bin/sh and kubectl (salvo's own has neither; docs/operations.md)" -}}
{{- end -}}
{{- printf "%s:%s" .Values.scaling.image.repository (.Values.scaling.image.tag | default .Chart.AppVersion | toString) -}}
{{- else -}}
{{- include "salvo.image" . -}}
{{- end -}}
{{- end -}}

{{/* A master's stable DNS name, for pod $(POD_NAME). */}}
{{- define "salvo.masterFQDN" -}}
$(POD_NAME).{{ include "salvo.headless" . }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end -}}

{{/* The masters' gossip addresses, comma-separated: what every node joins. */}}
{{- define "salvo.join" -}}
{{- $names := list -}}
{{- range $i := until (int .Values.masters.replicas) -}}
{{- $names = append $names (printf "%s-%d.%s.%s.svc.%s:%d" (include "salvo.masters" $) $i (include "salvo.headless" $) $.Release.Namespace $.Values.clusterDomain (int $.Values.ports.gossip)) -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}

{{/* The downward API variables every pod has. */}}
{{- define "salvo.podEnv" -}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: POD_IP
  valueFrom: {fieldRef: {fieldPath: status.podIP}}
{{- end -}}

{{/* The flags every node takes: logs, drain, gossip key and TLS. */}}
{{- define "salvo.commonArgs" -}}
- --log-level={{ .Values.logLevel }}
- --log-format={{ .Values.logFormat }}
- --shutdown-timeout={{ .Values.shutdownTimeout }}
- --http-addr=0.0.0.0:{{ .Values.ports.http }}
- --gossip-addr=0.0.0.0:{{ .Values.ports.gossip }}
- --remote-addr=0.0.0.0:{{ .Values.ports.remote }}
- --join={{ include "salvo.join" . }}
{{- if .Values.cluster.gossipKey }}
- --gossip-key-file=/etc/salvo/cluster/gossip.key
{{- end }}
{{- if .Values.cluster.tls }}
- --tls-cert=/etc/salvo/cluster/tls.crt
- --tls-key=/etc/salvo/cluster/tls.key
- --tls-ca=/etc/salvo/cluster/ca.crt
{{- with .Values.cluster.tlsServerName }}
- --tls-server-name={{ . }}
{{- end }}
{{- end }}
{{- if not (and .Values.cluster.gossipKey .Values.cluster.tls) }}
- --insecure-cluster
{{- end }}
{{- end -}}

{{/* Liveness and readiness on the API. */}}
{{- define "salvo.probes" -}}
# Up to 5 minutes to open a large store before liveness counts.
startupProbe:
  httpGet: {path: /livez, port: http}
  periodSeconds: 5
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /livez, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 6
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* The pods' grace period: the drain and 30 s more. */}}
{{- define "salvo.grace" -}}
{{- $d := .Values.shutdownTimeout | toString -}}
{{- if not (regexMatch "^[0-9]+[sm]$" $d) -}}
{{- fail "shutdownTimeout: give whole seconds or minutes, e.g. 30s or 2m" -}}
{{- end -}}
{{- $s := trimSuffix "s" (trimSuffix "m" $d) | int -}}
{{- if hasSuffix "m" $d -}}{{- $s = mul $s 60 -}}{{- end -}}
{{- add $s 30 -}}
{{- end -}}
