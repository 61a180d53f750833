{{- define "hub.fullname" -}}
{{- printf "%s-%s" .Release.Name "hub" | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "hub.labels" -}}
app.kubernetes.io/name: meridian-hub
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "hub.selector" -}}
app.kubernetes.io/name: meridian-hub
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "hub.secretName" -}}
{{- if .Values.database.existingSecret -}}{{ .Values.database.existingSecret }}{{- else -}}{{ include "hub.fullname" . }}{{- end -}}
{{- end -}}
{{- define "hub.metricsSecretName" -}}
{{- if .Values.metrics.existingSecret -}}{{ .Values.metrics.existingSecret }}{{- else -}}{{ include "hub.fullname" . }}-metrics{{- end -}}
{{- end -}}
{{- define "hub.secretsKeySecretName" -}}
{{- if .Values.secretsKey.existingSecret -}}{{ .Values.secretsKey.existingSecret }}{{- else -}}{{ include "hub.fullname" . }}-secrets-key{{- end -}}
{{- end -}}
