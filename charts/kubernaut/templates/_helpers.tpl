{{/* The manager's image: by digest when one is set, else by tag. */}}
{{- define "kubernaut.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/*
kubernaut.wanted: (list SETTING API CONTEXT) is "true" when SETTING is true, or
auto and the cluster serves API (group/version/kind), else empty.
*/}}
{{- define "kubernaut.wanted" -}}
{{- $setting := toString (index . 0) -}}
{{- if or (eq $setting "true") (and (eq $setting "auto") ((index . 2).Capabilities.APIVersions.Has (index . 1))) -}}
true
{{- end -}}
{{- end -}}
