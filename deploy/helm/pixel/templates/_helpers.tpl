{{/* Names and labels shared by every object. */}}
{{- define "pixel.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pixel.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: pass (dict "root" $ "component" "cpu-worker"). */}}
{{- define "pixel.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "pixel.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
{{- end -}}

{{/* The artifact store's settings, checked: an s3:// URI, or else a claim to mount. */}}
{{- define "pixel.s3" -}}
{{- $s3 := .Values.artifacts.s3 -}}
{{- if $s3.uri -}}
{{- if not (hasPrefix "s3://" $s3.uri) -}}
{{- fail (printf "artifacts.s3.uri must be an s3:// URI (s3://bucket/prefix), not %q" $s3.uri) -}}
{{- end -}}
true
{{- else if not .Values.artifacts.existingClaim -}}
{{- fail "artifacts needs s3.uri (s3://bucket/prefix) or existingClaim (a ReadWriteMany PersistentVolumeClaim)" -}}
{{- end -}}
{{- end -}}

{{/* The environment every Pixel process gets. */}}
{{- define "pixel.env" -}}
{{- $s3 := .Values.artifacts.s3 -}}
- name: PIXEL_TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: PIXEL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- if include "pixel.s3" . }}
- name: PIXEL_ARTIFACTS
  value: {{ $s3.uri | quote }}
- name: PIXEL_ARTIFACTS_CACHE
  value: /cache
- name: AWS_REGION
  value: {{ $s3.region | quote }}
{{- with $s3.endpoint }}
- name: AWS_ENDPOINT_URL_S3
  value: {{ . | quote }}
{{- end }}
{{- if $s3.forcePathStyle }}
- name: PIXEL_S3_FORCE_PATH_STYLE
  value: "true"
{{- end }}
{{- with $s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
{{- else }}
- name: PIXEL_ARTIFACTS
  value: {{ .Values.artifacts.mountPath | quote }}
{{- end }}
- name: PIXEL_HOME
  value: /data
- name: PIXEL_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{- define "pixel.volumes" -}}
{{- if include "pixel.s3" . }}
- name: cache
  emptyDir:
    sizeLimit: {{ .Values.artifacts.s3.cacheSizeLimit | quote }}
{{- else }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ .Values.artifacts.existingClaim | quote }}
{{- end }}
- name: data
  emptyDir: {}
{{- end -}}

{{- define "pixel.volumeMounts" -}}
{{- if include "pixel.s3" . }}
- name: cache
  mountPath: /cache
{{- else }}
- name: artifacts
  mountPath: {{ .Values.artifacts.mountPath | quote }}
{{- end }}
- name: data
  mountPath: /data
{{- end -}}

{{- define "pixel.securityContext" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
{{- end -}}
