{{/* The release's name for its objects, at most 63 characters. */}}
{{- define "ofs.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ofs.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "serve"). */}}
{{- define "ofs.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ofs.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ofs.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ofs.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The configuration every process reads: .Values.config, with what the chart
owns set on top (grpc.tls from grpcTLS, the L2 cache directory).
*/}}
{{- define "ofs.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- if .Values.grpcTLS.secretName -}}
{{- $tls := dict "cert_file" "/etc/ofs/tls/tls.crt" "key_file" "/etc/ofs/tls/tls.key" -}}
{{- if .Values.grpcTLS.mutual -}}
{{- $_ := set $tls "ca_file" "/etc/ofs/tls/ca.crt" -}}
{{- end -}}
{{- $grpc := default (dict) (get $cfg "grpc") -}}
{{- $_ := set $grpc "tls" $tls -}}
{{- $_ := set $cfg "grpc" $grpc -}}
{{- end -}}
{{- if .Values.insecure -}}
{{- $grpc := default (dict) (get $cfg "grpc") -}}
{{- $_ := set $grpc "insecure" true -}}
{{- $_ := set $cfg "grpc" $grpc -}}
{{- end -}}
{{- if gt (int64 .Values.serve.diskCacheBytes) 0 -}}
{{- $cache := default (dict) (get $cfg "cache") -}}
{{- $_ := set $cache "disk_dir" "/var/cache/ofs" -}}
{{- $_ := set $cache "disk_bytes" (int64 .Values.serve.diskCacheBytes) -}}
{{- $_ := set $cfg "cache" $cache -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Checks of values that would make a deployment that cannot work. */}}
{{- define "ofs.validate" -}}
{{- $partitions := int64 (default 12 (dig "kafka" "feature_partitions" 12 .Values.config)) -}}
{{- if gt (int64 .Values.ingest.replicas) $partitions -}}
{{- fail (printf "ingest.replicas is %d, more than config.kafka.feature_partitions (%d): the extra processors would get no partition" (int64 .Values.ingest.replicas) $partitions) -}}
{{- end -}}
{{- if and .Values.grpcTLS.mutual (not .Values.grpcTLS.secretName) -}}
{{- fail "grpcTLS.mutual needs grpcTLS.secretName (a Secret with tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- range $k, $_ := .Values.config -}}
{{- if not (has $k (list "prefix" "kafka" "etcd" "grpc" "metrics" "auth" "cache" "log" "stores" "persist" "limits" "store_reads" "tracing")) -}}
{{- fail (printf "config.%s is not a field of the ofs configuration (see examples/ofs.yaml)" $k) -}}
{{- end -}}
{{- end -}}
{{- if dig "grpc" "addr" "" .Values.config -}}
{{- fail "config.grpc.addr is set by the chart (serve.service.port); leave it out" -}}
{{- end -}}
{{- if dig "grpc" "insecure" false .Values.config -}}
{{- fail "config.grpc.insecure is set by the chart: use the value insecure instead" -}}
{{- end -}}
{{- $tokens := or (hasKey .Values.secretEnv "OFS_READER_TOKENS") (hasKey .Values.secretEnv "OFS_WRITER_TOKENS") (dig "auth" "reader_tokens" list .Values.config) (dig "auth" "writer_tokens" list .Values.config) -}}
{{- $mtls := and .Values.grpcTLS.secretName .Values.grpcTLS.mutual -}}
{{- if not (or $tokens $mtls .Values.insecure) -}}
{{- fail "the serve pods listen on every interface with neither tokens (secretEnv.OFS_READER_TOKENS, OFS_WRITER_TOKENS) nor mutual TLS (grpcTLS.mutual): anyone who reaches a pod could Persist or Apply; set one, or insecure: true" -}}
{{- end -}}
{{- end -}}

{{/*
The container of a component: call with (dict "root" $ "component" "serve"
"args" (list "serve") "resources" .Values.serve.resources "grpc" true).
*/}}
{{- define "ofs.container" -}}
{{- $root := .root -}}
- name: {{ .component }}
  image: {{ include "ofs.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  args:
    {{- toYaml .args | nindent 4 }}
    - --config=/etc/ofs/config/ofs.yaml
  env:
    - name: OFS_METRICS_ADDR
      value: "0.0.0.0:{{ $root.Values.metrics.port }}"
    {{- if .grpc }}
    - name: OFS_GRPC_ADDR
      value: "0.0.0.0:{{ $root.Values.serve.service.port }}"
    # Where the other feature servers reach this one (Persist's peer
    # invalidations): the pod's own address.
    - name: POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    - name: OFS_GRPC_ADVERTISE_ADDR
      value: "$(POD_IP):{{ $root.Values.serve.service.port }}"
    {{- end }}
    - name: GOMEMLIMIT
      valueFrom:
        resourceFieldRef:
          resource: limits.memory
    {{- range $name, $ref := $root.Values.secretEnv }}
    - name: {{ $name }}
      valueFrom:
        secretKeyRef:
          name: {{ required (printf "secretEnv.%s.secret" $name) $ref.secret }}
          key: {{ required (printf "secretEnv.%s.key" $name) $ref.key }}
    {{- end }}
  ports:
    {{- if .grpc }}
    - name: grpc
      containerPort: {{ $root.Values.serve.service.port }}
    {{- end }}
    - name: metrics
      containerPort: {{ $root.Values.metrics.port }}
  readinessProbe:
    httpGet: {path: /readyz, port: metrics}
    periodSeconds: 5
    failureThreshold: 2
  livenessProbe:
    httpGet: {path: /healthz, port: metrics}
    periodSeconds: 10
    failureThreshold: 6
  startupProbe:
    httpGet: {path: /healthz, port: metrics}
    periodSeconds: 2
    failureThreshold: 60
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    runAsNonRoot: true
    capabilities: {drop: [ALL]}
  volumeMounts:
    - name: config
      mountPath: /etc/ofs/config
      readOnly: true
    {{- if and .grpc $root.Values.grpcTLS.secretName }}
    - name: tls
      mountPath: /etc/ofs/tls
      readOnly: true
    {{- end }}
    {{- if and .grpc (gt (int64 $root.Values.serve.diskCacheBytes) 0) }}
    - name: cache
      mountPath: /var/cache/ofs
    {{- end }}
    - name: tmp
      mountPath: /tmp
{{- end -}}

{{/* The pod-level parts every component shares. */}}
{{- define "ofs.podSpec" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "ofs.serviceAccountName" $root }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile: {type: RuntimeDefault}
terminationGracePeriodSeconds: 60
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "ofs.fullname" $root }}
  {{- if and .grpc $root.Values.grpcTLS.secretName }}
  - name: tls
    secret:
      secretName: {{ $root.Values.grpcTLS.secretName }}
  {{- end }}
  {{- if and .grpc (gt (int64 $root.Values.serve.diskCacheBytes) 0) }}
  - name: cache
    emptyDir:
      sizeLimit: {{ printf "%dMi" (div (int64 $root.Values.serve.diskCacheBytes) 1048576) }}
  {{- end }}
  - name: tmp
    emptyDir: {}
{{- end -}}
