{{/* Names */}}
{{- define "contrail.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "contrail.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "ingester") */}}
{{- define "contrail.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "contrail.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "contrail.ingesterHeadless" -}}
{{- printf "%s-ingester-headless" (include "contrail.fullname" .) -}}
{{- end -}}

{{- define "contrail.validate" -}}
{{- if not (has .Values.mode (list "single" "distributed")) -}}
{{- fail (printf "mode must be single or distributed, got %q" .Values.mode) -}}
{{- end -}}
{{- if not (has .Values.storage.backend (list "local" "s3" "gcs" "azure")) -}}
{{- fail (printf "storage.backend must be local, s3, gcs or azure, got %q" .Values.storage.backend) -}}
{{- end -}}
{{- if and (eq .Values.mode "distributed") (eq .Values.storage.backend "local") -}}
{{- fail "mode distributed needs an object store shared by every pod: set storage.backend to s3, gcs or azure" -}}
{{- end -}}
{{- if and (eq .Values.storage.backend "s3") (not .Values.storage.s3.bucket) -}}
{{- fail "storage.s3.bucket is required when storage.backend is s3" -}}
{{- end -}}
{{- if and (eq .Values.storage.backend "gcs") (not .Values.storage.gcs.bucket) -}}
{{- fail "storage.gcs.bucket is required when storage.backend is gcs" -}}
{{- end -}}
{{- if and (eq .Values.storage.backend "azure") (or (not .Values.storage.azure.containerName) (not .Values.storage.azure.storageAccountName)) -}}
{{- fail "storage.azure.containerName and storage.azure.storageAccountName are required when storage.backend is azure" -}}
{{- end -}}
{{- end -}}

{{/* storage.trace of tempo.yaml */}}
{{- define "contrail.storageConfig" -}}
{{- $s := .Values.storage -}}
{{- $trace := dict "backend" $s.backend "wal" (dict "path" "/var/contrail/wal") -}}
{{- if eq $s.backend "local" -}}
{{- $_ := set $trace "local" (dict "path" $s.local.path) -}}
{{- else if eq $s.backend "s3" -}}
{{- $s3 := dict "bucket" $s.s3.bucket "insecure" $s.s3.insecure "forcepathstyle" $s.s3.forcePathStyle -}}
{{- if $s.s3.endpoint }}{{ $_ := set $s3 "endpoint" $s.s3.endpoint }}{{ end -}}
{{- if $s.s3.region }}{{ $_ := set $s3 "region" $s.s3.region }}{{ end -}}
{{- if $s.s3.prefix }}{{ $_ := set $s3 "prefix" $s.s3.prefix }}{{ end -}}
{{- if $s.s3.existingSecret -}}
{{- $_ := set $s3 "access_key" "${AWS_ACCESS_KEY_ID}" -}}
{{- $_ := set $s3 "secret_key" "${AWS_SECRET_ACCESS_KEY}" -}}
{{- end -}}
{{- $_ := set $trace "s3" $s3 -}}
{{- else if eq $s.backend "gcs" -}}
{{- $gcs := dict "bucket_name" $s.gcs.bucket -}}
{{- if $s.gcs.prefix }}{{ $_ := set $gcs "prefix" $s.gcs.prefix }}{{ end -}}
{{- if $s.gcs.existingSecret }}{{ $_ := set $gcs "service_account_path" (printf "/var/contrail/gcs/%s" $s.gcs.serviceAccountKey) }}{{ end -}}
{{- $_ := set $trace "gcs" $gcs -}}
{{- else if eq $s.backend "azure" -}}
{{- $az := dict "container_name" $s.azure.containerName "storage_account_name" $s.azure.storageAccountName -}}
{{- if $s.azure.prefix }}{{ $_ := set $az "prefix" $s.azure.prefix }}{{ end -}}
{{- if $s.azure.existingSecret }}{{ $_ := set $az "storage_account_key" "${AZURE_STORAGE_ACCOUNT_KEY}" }}{{ else }}{{ $_ := set $az "use_managed_identity" true }}{{ end -}}
{{- $_ := set $trace "azure" $az -}}
{{- end -}}
{{- toYaml (dict "trace" $trace) -}}
{{- end -}}

{{/* The whole tempo.yaml, rendered from values; `extraConfig` is merged over it. */}}
{{- define "contrail.config" -}}
{{- $otlp := dict "grpc" (dict "endpoint" (printf "0.0.0.0:%v" .Values.ports.otlpGrpc)) "http" (dict "endpoint" (printf "0.0.0.0:%v" .Values.ports.otlpHttp)) -}}
{{- $config := dict
  "multitenancy_enabled" .Values.multitenancyEnabled
  "server" (dict "http_listen_port" .Values.ports.http "grpc_listen_port" .Values.ports.grpc "log_level" .Values.logLevel "log_format" .Values.logFormat)
  "distributor" (dict "receivers" (dict "otlp" (dict "protocols" $otlp)))
  "compactor" (dict "compaction" (dict "block_retention" .Values.retention))
  "storage" (fromYaml (include "contrail.storageConfig" .))
-}}
{{- if .Values.overrides.defaults -}}
{{- $_ := set $config "overrides" (dict "defaults" .Values.overrides.defaults) -}}
{{- end -}}
{{- if eq .Values.mode "distributed" -}}
{{- $ingesters := printf "dnssrv+_grpc._tcp.%s.%s.svc.cluster.local" (include "contrail.ingesterHeadless" .) .Release.Namespace -}}
{{- $_ := set $config.distributor "ring" (dict "addresses" (list $ingesters) "replication_factor" .Values.ingester.replicationFactor) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $config (deepCopy .Values.extraConfig)) -}}
{{- end -}}

{{/* Env vars with the object-store credentials from the user's Secret. */}}
{{- define "contrail.credentialEnv" -}}
{{- $s := .Values.storage -}}
{{- if and (eq $s.backend "s3") $s.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: { name: {{ $s.s3.existingSecret }}, key: {{ $s.s3.accessKeyIdKey }} }
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: { name: {{ $s.s3.existingSecret }}, key: {{ $s.s3.secretAccessKeyKey }} }
{{- end }}
{{- if and (eq $s.backend "azure") $s.azure.existingSecret }}
- name: AZURE_STORAGE_ACCOUNT_KEY
  valueFrom:
    secretKeyRef: { name: {{ $s.azure.existingSecret }}, key: {{ $s.azure.accountKeyKey }} }
{{- end }}
{{- end -}}

{{/* The container of one component: (dict "ctx" $ "target" "ingester" "resources" ...) */}}
{{- define "contrail.container" -}}
{{- $ctx := .ctx -}}
- name: contrail
  image: {{ include "contrail.image" $ctx }}
  imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
  args:
    - -config.file=/etc/contrail/tempo.yaml
    - -config.expand-env
    - -target={{ .target }}
  ports:
    - { name: http, containerPort: {{ $ctx.Values.ports.http }}, protocol: TCP }
    - { name: grpc, containerPort: {{ $ctx.Values.ports.grpc }}, protocol: TCP }
    {{- if has .target (list "all" "distributor") }}
    - { name: otlp-grpc, containerPort: {{ $ctx.Values.ports.otlpGrpc }}, protocol: TCP }
    - { name: otlp-http, containerPort: {{ $ctx.Values.ports.otlpHttp }}, protocol: TCP }
    {{- end }}
  {{- $env := include "contrail.credentialEnv" $ctx }}
  {{- if $env }}
  env: {{- $env | indent 4 }}
  {{- end }}
  readinessProbe:
    httpGet: { path: /ready, port: http }
    initialDelaySeconds: {{ $ctx.Values.readinessProbe.initialDelaySeconds }}
    periodSeconds: {{ $ctx.Values.readinessProbe.periodSeconds }}
    timeoutSeconds: {{ $ctx.Values.readinessProbe.timeoutSeconds }}
    failureThreshold: {{ $ctx.Values.readinessProbe.failureThreshold }}
  resources: {{- toYaml .resources | nindent 4 }}
  securityContext: {{- toYaml $ctx.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - { name: config, mountPath: /etc/contrail, readOnly: true }
    - { name: data, mountPath: /var/contrail }
    {{- if and (eq $ctx.Values.storage.backend "gcs") $ctx.Values.storage.gcs.existingSecret }}
    - { name: gcs-key, mountPath: /var/contrail/gcs, readOnly: true }
    {{- end }}
{{- end -}}

{{/* Pod-level settings shared by every component. */}}
{{- define "contrail.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext: {{- toYaml .Values.securityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Config and credential volumes (the data volume is added by each workload). */}}
{{- define "contrail.volumes" -}}
- name: config
  configMap:
    name: {{ include "contrail.fullname" . }}-config
{{- if and (eq .Values.storage.backend "gcs") .Values.storage.gcs.existingSecret }}
- name: gcs-key
  secret:
    secretName: {{ .Values.storage.gcs.existingSecret }}
{{- end }}
{{- end -}}

{{/* Pod template metadata of one component. */}}
{{- define "contrail.podMetadata" -}}
labels:
  {{- include "contrail.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 2 }}
  {{- with .ctx.Values.podLabels }}{{ toYaml . | nindent 2 }}{{ end }}
annotations:
  checksum/config: {{ include "contrail.config" .ctx | sha256sum }}
  {{- with .ctx.Values.podAnnotations }}{{ toYaml . | nindent 2 }}{{ end }}
{{- end -}}
