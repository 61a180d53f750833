{{- define "agent.fullname" -}}
{{- printf "%s-%s" .Release.Name "edge-agent" | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "agent.labels" -}}
app.kubernetes.io/name: meridian-edge-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "agent.secretName" -}}
{{- if .Values.credential.existingSecret -}}{{ .Values.credential.existingSecret }}{{- else -}}{{ include "agent.fullname" . }}{{- end -}}
{{- end -}}
{{- define "agent.image" -}}
"{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
{{- end -}}
