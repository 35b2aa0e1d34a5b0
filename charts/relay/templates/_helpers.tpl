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

{{/* repository:tag, or repository:tag@digest when a digest is pinned (the runtime pulls by digest). */}}
{{- define "relay.image" -}}
{{- $reference := printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) -}}
{{- if .Values.image.digest -}}
{{- $reference = printf "%s@%s" $reference .Values.image.digest -}}
{{- end -}}
{{- $reference -}}
{{- end -}}

{{/* Sections of relay.toml, in the order of relay.toml.example; config has one map per section. */}}
{{- define "relay.configSections" -}}
server proxy http tls rtmp rtsp live storage s3 database cluster cameras dvr auth admin outbound playback
{{- end -}}

{{/*
Settings the chart sets itself, as section.key; config may not set them (nor extraEnv the matching
RELAY_* variables). The listeners, the data directory and the spool are written to relay.toml;
the pod name, the advertise address and the secrets arrive as RELAY_* environment variables.
*/}}
{{- define "relay.chartManagedKeys" -}}
server.data_dir storage.spool_dir http.listen rtmp.listen rtsp.listen cluster.internal_listen cluster.pod_name cluster.advertise_address database.url database.sealing_key_file database.previous_sealing_key_file s3.access_key_id s3.secret_access_key admin.listen cluster.internal_secret http.origin_secret http.tls_listen rtmp.tls_listen tls.certificate_file tls.private_key_file
{{- end -}}

{{/*
The server's text settings (relay.toml.example gives them string defaults). A number given for one
of them (a bucket named 12345) is written as text; for any other setting, digits or true/false
given as text are written as a number or a boolean. Either way the value takes the setting's type,
as RELAY_* variables do.
*/}}
{{- define "relay.textKeys" -}}
server.data_dir server.public_host server.log_format proxy.forwarded_header http.listen http.origin_secret http.tls_listen tls.certificate_file tls.private_key_file tls.acme_directory_url tls.acme_contact_email tls.acme_ca_file rtmp.listen rtmp.app rtmp.tls_listen rtsp.listen storage.kind storage.spool_dir s3.bucket s3.prefix s3.region s3.endpoint s3.access_key_id s3.secret_access_key database.url database.sealing_key_file database.previous_sealing_key_file cluster.pod_name cluster.internal_listen cluster.advertise_address cluster.internal_secret cameras.lease_backend cameras.kubernetes_namespace admin.listen
{{- end -}}

{{/* The server's list settings (relay.toml.example gives them list defaults): lists of text. */}}
{{- define "relay.listKeys" -}}
outbound.allow_networks tls.acme_domains
{{- end -}}

{{/* Keys of the flat configuration file the server read before it was sectioned, and where each went. */}}
{{- define "relay.movedKeys" -}}
rtmp_listen=rtmp.listen http_listen=http.listen internal_listen=cluster.internal_listen data_dir=server.data_dir public_host=server.public_host log_format=server.log_format drain_timeout_ms=server.drain_timeout_ms storage=storage.kind storage_queue=storage.queue_objects spool_dir=storage.spool_dir spool_max_bytes=storage.spool_max_bytes s3_bucket=s3.bucket s3_prefix=s3.prefix s3_region=s3.region s3_endpoint=s3.endpoint s3_force_path_style=s3.force_path_style s3_access_key_id=s3.access_key_id s3_secret_access_key=s3.secret_access_key database_url=database.url pod_name=cluster.pod_name advertise_address=cluster.advertise_address origin_cache_bytes=cluster.origin_cache_bytes segment_target_ms=live.segment_target_ms part_target_ms=live.part_target_ms playlist_window_segments=live.playlist_window_segments reconnect_grace_ms=live.reconnect_grace_ms takeover_after_ms=live.takeover_after_ms max_rtmp_connections=rtmp.max_connections max_rtmp_message_bytes=rtmp.max_message_bytes publisher_idle_timeout_ms=rtmp.idle_timeout_ms secure_cookies=http.secure_cookies rtsp_listen=rtsp.listen camera_lease_ms=cameras.lease_ms camera_lease_backend=cameras.lease_backend kubernetes_namespace=cameras.kubernetes_namespace dvr_window_secs=dvr.window_secs retention_delete_objects=dvr.delete_expired_objects
{{- end -}}

{{/* Where the value of a chart-managed setting comes from, for error messages. Context: "section.key". */}}
{{- define "relay.managedSource" -}}
{{- $sources := dict
  "server.data_dir" "an emptyDir mounted at /var/lib/relay"
  "storage.spool_dir" "/var/lib/relay/spool, bounded by ingest.spool.sizeLimit"
  "http.listen" "from listenHost and ports.http"
  "rtmp.listen" "from listenHost and ports.rtmp"
  "rtsp.listen" "from listenHost and ports.rtsp"
  "cluster.internal_listen" "from listenHost and ports.internal"
  "cluster.pod_name" "RELAY_CLUSTER_POD_NAME, the pod's name"
  "cluster.advertise_address" "RELAY_CLUSTER_ADVERTISE_ADDRESS, from ingest.advertiseHost and ports.internal"
  "database.url" "RELAY_DATABASE_URL, from the Secret database.existingSecret"
  "s3.access_key_id" "RELAY_S3_ACCESS_KEY_ID, from the Secret s3Credentials.existingSecret"
  "s3.secret_access_key" "RELAY_S3_SECRET_ACCESS_KEY, from the Secret s3Credentials.existingSecret"
  "admin.listen" "from listenHost and ports.admin"
  "database.sealing_key_file" "the Secret sealingKey.existingSecret, mounted at /etc/relay-sealing"
  "database.previous_sealing_key_file" "sealingKey.previousKey of the Secret sealingKey.existingSecret"
  "cluster.internal_secret" "RELAY_CLUSTER_INTERNAL_SECRET, from the Secret clusterSecret.existingSecret"
  "http.origin_secret" "RELAY_HTTP_ORIGIN_SECRET, from the Secret originSecret.existingSecret"
  "http.tls_listen" "from listenHost and ports.https, when tls.existingSecret is set"
  "rtmp.tls_listen" "from listenHost and ports.rtmps, when tls.existingSecret is set"
  "tls.certificate_file" "tls.crt of the Secret tls.existingSecret, mounted at /etc/relay-tls"
  "tls.private_key_file" "tls.key of the Secret tls.existingSecret, mounted at /etc/relay-tls" -}}
{{- index $sources . -}}
{{- end -}}

{{/* The new place of a flat key, or nothing. Context: the old key. */}}
{{- define "relay.movedTo" -}}
{{- $old := . -}}
{{- range splitList " " (include "relay.movedKeys" .) -}}
{{- if eq (printf "%s=" $old) (regexFind "^[a-z0-9_]+=" .) -}}
{{- trimPrefix (printf "%s=" $old) . -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
relay.toml: one TOML table per section of config, the chart's own settings first. Strings are
quoted (Go's %q escapes are valid TOML basic-string escapes for the printable text settings hold);
numbers go through int64 because values arrive as floats and a large float prints in exponent
form, which TOML would read as a float. Empty strings and null are left out (the server default
applies), and so are sections left with no settings.
*/}}
{{- define "relay.configToml" -}}
{{- $sections := splitList " " (include "relay.configSections" .) }}
{{- $managed := splitList " " (include "relay.chartManagedKeys" .) }}
{{- $text := splitList " " (include "relay.textKeys" .) }}
{{- $lists := splitList " " (include "relay.listKeys" .) }}
{{- $chartSet := dict
  "server" (dict "data_dir" "/var/lib/relay")
  "http" (dict "listen" (printf "%s:%d" .Values.listenHost (.Values.ports.http | int64)))
  "rtmp" (dict "listen" (printf "%s:%d" .Values.listenHost (.Values.ports.rtmp | int64)))
  "rtsp" (dict "listen" (printf "%s:%d" .Values.listenHost (.Values.ports.rtsp | int64)))
  "storage" (dict "spool_dir" "/var/lib/relay/spool")
  "cluster" (dict "internal_listen" (printf "%s:%d" .Values.listenHost (.Values.ports.internal | int64)))
  "admin" (dict "listen" (printf "%s:%d" .Values.listenHost (.Values.ports.admin | int64)))
  "database" (include "relay.sealingKeyFiles" . | fromYaml) }}
{{- if .Values.tls.existingSecret }}
{{- $_ := set (index $chartSet "http") "tls_listen" (printf "%s:%d" .Values.listenHost (.Values.ports.https | int64)) }}
{{- $_ := set (index $chartSet "rtmp") "tls_listen" (printf "%s:%d" .Values.listenHost (.Values.ports.rtmps | int64)) }}
{{- $_ := set $chartSet "tls" (dict "certificate_file" "/etc/relay-tls/tls.crt" "private_key_file" "/etc/relay-tls/tls.key") }}
{{- end }}
{{- range $name, $value := .Values.config }}
{{- if not (and (has $name $sections) (or (kindIs "map" $value) (kindIs "invalid" $value))) }}
{{- $movedTo := include "relay.movedTo" $name }}
{{- if $movedTo }}
{{- fail (printf "config.%s is now config.%s: config is nested by section, like relay.toml (see relay.toml.example)" $name $movedTo) }}
{{- else if has $name $sections }}
{{- fail (printf "config.%s must be a map of the [%s] settings, e.g. config.%s.<key>: <value>" $name $name $name) }}
{{- else }}
{{- fail (printf "config.%s is not a section of relay.toml; the sections are %s" $name (join ", " $sections)) }}
{{- end }}
{{- end }}
{{- end -}}
# Rendered by the relay chart from its config values. Per-pod settings (cluster.pod_name,
# cluster.advertise_address) and secrets (database.url, the S3 keys) arrive as RELAY_*
# environment variables. Every key and its default: relay.toml.example, `relay config defaults`.
{{- range $section := $sections }}
{{- $own := index $chartSet $section | default dict }}
{{- $settings := index $.Values.config $section | default dict }}
{{- if or $own $settings }}

[{{ $section }}]
{{- range $key, $value := $own }}
{{ $key }} = {{ $value | quote }}
{{- end }}
{{- range $key, $value := $settings }}
{{- $path := printf "%s.%s" $section $key }}
{{- if has $path $managed }}
{{- fail (printf "config.%s is set by the chart (%s); remove it from config" $path (include "relay.managedSource" $path)) }}
{{- else if not (regexMatch "^[a-z0-9_]+$" $key) }}
{{- fail (printf "config.%s is not a setting name: keys are lowercase words joined by _" $path) }}
{{- else if kindIs "invalid" $value }}
{{- else if and (has $path $lists) (kindIs "slice" $value) }}
{{- if $value }}
{{ $key }} = [{{ range $index, $item := $value }}{{ if $index }}, {{ end }}{{ $item | toString | quote }}{{ end }}]
{{- end }}
{{- else if kindIs "string" $value }}
{{- if eq $value "" }}
{{- else if and (not (has $path $text)) (or (regexMatch "^-?(0|[1-9][0-9]*)$" $value) (eq $value "true") (eq $value "false")) }}
{{ $key }} = {{ $value }}
{{- else }}
{{ $key }} = {{ $value | quote }}
{{- end }}
{{- else if kindIs "bool" $value }}
{{ $key }} = {{ if has $path $text }}{{ $value | toString | quote }}{{ else }}{{ $value }}{{ end }}
{{- else if or (kindIs "float64" $value) (kindIs "int" $value) (kindIs "int64" $value) }}
{{- $whole := eq (float64 ($value | int64)) (float64 $value) }}
{{- if has $path $text }}
{{ $key }} = {{ if $whole }}{{ $value | int64 | toString | quote }}{{ else }}{{ $value | toString | quote }}{{ end }}
{{- else if not $whole }}
{{- fail (printf "config.%s must be a whole number" $path) }}
{{- else }}
{{ $key }} = {{ $value | int64 }}
{{- end }}
{{- else }}
{{- fail (printf "config.%s: only strings, numbers and booleans are supported" $path) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
config.server.drain_timeout_ms in whole seconds, rounded up: how long a pod of any role may spend
draining after SIGTERM. The server's default (30000) when unset.
*/}}
{{- define "relay.drainSeconds" -}}
{{- $server := index .Values.config "server" | default dict -}}
{{- $ms := 30000 -}}
{{- if kindIs "map" $server -}}
{{- $ms = index $server "drain_timeout_ms" | default 30000 -}}
{{- end -}}
{{- if kindIs "string" $ms -}}
{{- if not (regexMatch "^[0-9]+$" $ms) -}}
{{- fail "config.server.drain_timeout_ms must be a whole number of milliseconds" -}}
{{- end -}}
{{- else if not (or (kindIs "float64" $ms) (kindIs "int" $ms) (kindIs "int64" $ms)) -}}
{{- fail "config.server.drain_timeout_ms must be a whole number of milliseconds" -}}
{{- end -}}
{{- div (add ($ms | int64) 999) 1000 -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds of one role: the preStop sleep, then the drain the server allows
itself (config.server.drain_timeout_ms, which every role honours), then a margin, so Kubernetes
never kills a pod mid-drain. Context: dict "root" $ "role" "ingest".
*/}}
{{- define "relay.terminationGracePeriodSeconds" -}}
{{- $settings := index .root.Values .role -}}
{{- add $settings.preStopSleepSeconds (include "relay.drainSeconds" .root) $settings.terminationGraceMarginSeconds -}}
{{- end -}}

{{/* Stops the install with a clear message when a required setting is missing. */}}
{{- define "relay.validate" -}}
{{- if not .Values.database.existingSecret -}}
{{- fail "database.existingSecret is required: a Secret holding the PostgreSQL URL (key database.urlKey)" -}}
{{- end -}}
{{- if not .Values.clusterSecret.existingSecret -}}
{{- fail "clusterSecret.existingSecret is required: a Secret holding the shared secret (key clusterSecret.key, at least 32 characters) pods present to the ingest pods' internal endpoint" -}}
{{- end -}}
{{- $_ := include "relay.configToml" . -}}
{{- $storage := index .Values.config "storage" | default dict -}}
{{- if ne (toString (index $storage "kind")) "s3" -}}
{{- fail "config.storage.kind must be s3: pods share segments through object storage" -}}
{{- end -}}
{{- $s3 := index .Values.config "s3" | default dict -}}
{{- if not (index $s3 "bucket") -}}
{{- fail "config.s3.bucket is required: the bucket every role reads and writes segments in" -}}
{{- end -}}
{{- range $role := list "ingest" "origin" "api" -}}
{{- if hasKey (index $.Values $role) "terminationGracePeriodSeconds" -}}
{{- fail (printf "%s.terminationGracePeriodSeconds is derived by the chart: %s.preStopSleepSeconds + config.server.drain_timeout_ms + %s.terminationGraceMarginSeconds; set those instead" $role $role $role) -}}
{{- end -}}
{{- end -}}
{{- if not .Values.sealingKey.existingSecret -}}
{{- fail "sealingKey.existingSecret is required: a Secret holding the key (64 hex digits, key sealingKey.key) that seals signing keys, webhook secrets and camera passwords in the database" -}}
{{- end -}}
{{- if eq .Values.sealingKey.previousKey .Values.sealingKey.key -}}
{{- fail "sealingKey.previousKey must name another key of the Secret than sealingKey.key" -}}
{{- end -}}
{{- $tls := index .Values.config "tls" | default dict -}}
{{- if index $tls "acme_domains" -}}
{{- fail "config.tls.acme_domains is for a single server: every pod would order its own certificate and keep it in an emptyDir. Give the pods a certificate Secret instead (tls.existingSecret, e.g. from cert-manager)" -}}
{{- end -}}
{{- $http := index .Values.config "http" | default dict -}}
{{- if and (eq (toString (index $http "redirect_to_https")) "true") (not .Values.tls.existingSecret) -}}
{{- fail "config.http.redirect_to_https needs the HTTPS port: set tls.existingSecret" -}}
{{- end -}}
{{- end -}}

{{/*
Checks the RELAY_* names of a role's extraEnv: RELAY_<SECTION>_<KEY>, the section being the first
word, and not a setting the chart sets. Context: dict "root" $ "role" "ingest".
*/}}
{{- define "relay.checkExtraEnv" -}}
{{- $role := .role -}}
{{- $sections := splitList " " (include "relay.configSections" .root) -}}
{{- $managed := splitList " " (include "relay.chartManagedKeys" .root) -}}
{{- range (index .root.Values .role).extraEnv -}}
{{- $name := toString .name -}}
{{- if hasPrefix "RELAY_" $name -}}
{{- $section := regexReplaceAll "^RELAY_([A-Z0-9]+)_[A-Z0-9_]+$" $name "${1}" | lower -}}
{{- $key := trimPrefix (printf "RELAY_%s_" (upper $section)) $name | lower -}}
{{- if not (has $section $sections) -}}
{{- $movedTo := include "relay.movedTo" (trimPrefix "RELAY_" $name | lower) -}}
{{- if $movedTo -}}
{{- fail (printf "%s.extraEnv: %s is now RELAY_%s (RELAY_<SECTION>_<KEY>)" $role $name ($movedTo | replace "." "_" | upper)) -}}
{{- else -}}
{{- fail (printf "%s.extraEnv: %s is not a server setting: RELAY_* variables are RELAY_<SECTION>_<KEY>, the section one of %s" $role $name (join ", " $sections)) -}}
{{- end -}}
{{- else if has (printf "%s.%s" $section $key) $managed -}}
{{- fail (printf "%s.extraEnv: %s sets %s.%s, which the chart sets (%s); remove it" $role $name $section $key (include "relay.managedSource" (printf "%s.%s" $section $key))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Environment every role gets. Context: dict "root" $ "role" "ingest". */}}
{{- define "relay.env" -}}
{{- include "relay.checkExtraEnv" . -}}
- name: RELAY_CLUSTER_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: RELAY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.database.existingSecret }}
      key: {{ .root.Values.database.urlKey }}
- name: RELAY_CLUSTER_INTERNAL_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .root.Values.clusterSecret.existingSecret }}
      key: {{ .root.Values.clusterSecret.key }}
{{- with .root.Values.originSecret }}
{{- if .existingSecret }}
- name: RELAY_HTTP_ORIGIN_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- end }}
{{- end }}
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
- name: sealing-key
  secret:
    secretName: {{ .Values.sealingKey.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.sealingKey.key }}
        path: {{ .Values.sealingKey.key }}
      {{- with .Values.sealingKey.previousKey }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- with .Values.tls.existingSecret }}
# A whole-volume mount (no subPath): the kubelet swaps in a renewed certificate and the server
# reloads it (config.tls.reload_interval_ms).
- name: tls
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end -}}

{{/* The [database] settings naming the mounted sealing keys, as YAML. */}}
{{- define "relay.sealingKeyFiles" -}}
sealing_key_file: {{ printf "/etc/relay-sealing/%s" .Values.sealingKey.key | quote }}
{{- with .Values.sealingKey.previousKey }}
previous_sealing_key_file: {{ printf "/etc/relay-sealing/%s" . | quote }}
{{- end }}
{{- end -}}

{{- define "relay.commonMounts" -}}
- name: config
  mountPath: /etc/relay
  readOnly: true
- name: sealing-key
  mountPath: /etc/relay-sealing
  readOnly: true
- name: data
  mountPath: /var/lib/relay
- name: tmp
  mountPath: /tmp
{{- if .Values.tls.existingSecret }}
- name: tls
  mountPath: /etc/relay-tls
  readOnly: true
{{- end }}
{{- end -}}
