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

{{/* The environment every Pixel process gets. */}}
{{- define "pixel.env" -}}
- name: PIXEL_TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
- name: PIXEL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: PIXEL_ARTIFACTS
  value: {{ .Values.artifacts.mountPath | quote }}
- name: PIXEL_HOME
  value: /data
- name: PIXEL_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{- define "pixel.volumes" -}}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ .Values.artifacts.existingClaim | quote }}
- name: data
  emptyDir: {}
{{- end -}}

{{- define "pixel.volumeMounts" -}}
- name: artifacts
  mountPath: {{ .Values.artifacts.mountPath | quote }}
- name: data
  mountPath: /data
{{- end -}}

{{- define "pixel.securityContext" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
{{- end -}}
