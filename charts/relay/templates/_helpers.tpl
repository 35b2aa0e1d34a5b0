{{/* Chart name, trimmed to the 63 characters a label value allows. */}}
{{- define "relay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; role suffixes are added to it, so it leaves room for "-ingest-internal". */}}
{{- define "relay.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. Context: the root. */}}
{{- define "relay.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "relay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one role. Context: dict "root" $ "role" "ingest". */}}
{{- define "relay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "relay.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{/* All labels of one role's objects. Context: dict "root" $ "role" "ingest". */}}
{{- define "relay.roleLabels" -}}
{{ include "relay.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{/* ServiceAccount name of one role. Context: dict "root" $ "role" "ingest". */}}
{{- define "relay.serviceAccountName" -}}
{{- $settings := index .root.Values .role -}}
{{- if $settings.serviceAccount.name -}}
{{- $settings.serviceAccount.name -}}
{{- else if .root.Values.serviceAccount.create -}}
{{- printf "%s-%s" (include "relay.fullname" .root) .role -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{- define "relay.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Keys the chart writes itself; config may not set them. */}}
{{- define "relay.chartManagedKeys" -}}
rtmp_listen http_listen internal_listen data_dir spool_dir pod_name advertise_address database_url s3_access_key_id s3_secret_access_key
{{- end -}}

{{/*
relay.toml. Strings are quoted (Go's %q escapes are valid TOML basic-string escapes for the
printable text settings hold); numbers go through int64 because values arrive as floats and a
large float prints in exponent form, which TOML would read as a float.
*/}}
{{- define "relay.configToml" -}}
# Rendered by the relay chart. Per-pod settings (pod_name, advertise_address) and secrets
# (database_url, S3 keys) arrive as RELAY_* environment variables.
rtmp_listen = {{ printf "%s:%d" .Values.listenHost (.Values.ports.rtmp | int64) | quote }}
http_listen = {{ printf "%s:%d" .Values.listenHost (.Values.ports.http | int64) | quote }}
internal_listen = {{ printf "%s:%d" .Values.listenHost (.Values.ports.internal | int64) | quote }}
data_dir = "/var/lib/relay"
spool_dir = "/var/lib/relay/spool"
{{- $managed := splitList " " (include "relay.chartManagedKeys" .) }}
{{- range $key, $value := .Values.config }}
{{- if has $key $managed }}
{{- fail (printf "config.%s is set by the chart; remove it from config" $key) }}
{{- else if kindIs "invalid" $value }}
{{- else if kindIs "string" $value }}
{{- if ne $value "" }}
{{ $key }} = {{ $value | quote }}
{{- end }}
{{- else if kindIs "bool" $value }}
{{ $key }} = {{ $value }}
{{- else if or (kindIs "float64" $value) (kindIs "int" $value) (kindIs "int64" $value) }}
{{- if ne (float64 ($value | int64)) (float64 $value) }}
{{- fail (printf "config.%s must be a whole number" $key) }}
{{- end }}
{{ $key }} = {{ $value | int64 }}
{{- else }}
{{- fail (printf "config.%s: only strings, numbers and booleans are supported" $key) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Stops the install with a clear message when a required setting is missing. */}}
{{- define "relay.validate" -}}
{{- if not .Values.database.existingSecret -}}
{{- fail "database.existingSecret is required: a Secret holding the PostgreSQL URL (key database.urlKey)" -}}
{{- end -}}
{{- if ne (toString .Values.config.storage) "s3" -}}
{{- fail "config.storage must be s3: pods share segments through object storage" -}}
{{- end -}}
{{- if not .Values.config.s3_bucket -}}
{{- fail "config.s3_bucket is required" -}}
{{- end -}}
{{- end -}}

{{/* Environment every role gets. Context: dict "root" $ "role" "ingest". */}}
{{- define "relay.env" -}}
- name: RELAY_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: RELAY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.database.existingSecret }}
      key: {{ .root.Values.database.urlKey }}
{{- with .root.Values.s3Credentials }}
{{- if .existingSecret }}
- name: RELAY_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .accessKeyIdKey }}
- name: RELAY_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .secretAccessKeyKey }}
{{- end }}
{{- end }}
{{- with (index .root.Values .role).extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by the roles. Context: dict "root" $ "role" "ingest". */}}
{{- define "relay.podSpecCommon" -}}
{{- $settings := index .root.Values .role -}}
serviceAccountName: {{ include "relay.serviceAccountName" . }}
# Service links would inject <SERVICE>_PORT variables; for a Service named relay-* they start
# with RELAY_ and the server would refuse them as unknown settings.
enableServiceLinks: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $settings.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $settings.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $settings.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $settings.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: {{ $.root.Values.topologySpread.maxSkew }}
    topologyKey: {{ $key }}
    whenUnsatisfiable: {{ $.root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "relay.selectorLabels" $ | nindent 8 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Pod template metadata. Context: dict "root" $ "role" "ingest". */}}
{{- define "relay.podMetadata" -}}
{{- $settings := index .root.Values .role -}}
labels:
  {{- include "relay.roleLabels" . | nindent 2 }}
  {{- with $settings.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include "relay.configToml" .root | sha256sum }}
  {{- with $settings.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Volumes every role mounts: relay.toml and a writable data directory. */}}
{{- define "relay.configVolume" -}}
- name: config
  configMap:
    name: {{ include "relay.fullname" . }}
{{- end -}}

{{- define "relay.commonMounts" -}}
- name: config
  mountPath: /etc/relay
  readOnly: true
- name: data
  mountPath: /var/lib/relay
- name: tmp
  mountPath: /tmp
{{- end -}}
