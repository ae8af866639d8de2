{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "cinder-csi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every resource name: fullnameOverride, else the release name when it already
contains the chart name, else <release>-<chart>.
*/}}
{{- define "cinder-csi.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
<fullname>-<suffix>, kept within 63 characters. Call with (list $ "suffix").
*/}}
{{- define "cinder-csi.suffixed" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "cinder-csi.fullname" $root | trunc 50 | trimSuffix "-") (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cinder-csi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "cinder-csi.labels" -}}
helm.sh/chart: {{ include "cinder-csi.chart" . }}
{{ include "cinder-csi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cinder-csi-driver
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels (add app.kubernetes.io/component per workload).
*/}}
{{- define "cinder-csi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cinder-csi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Image reference. Call with (dict "image" <image values> "root" $); an empty tag falls
back to the chart's appVersion, a digest wins over the tag.
*/}}
{{- define "cinder-csi.image" -}}
{{- $img := .image }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (toString (default .root.Chart.AppVersion $img.tag)) }}
{{- end }}
{{- end }}

{{- define "cinder-csi.controllerName" -}}
{{- include "cinder-csi.suffixed" (list . "controller") }}
{{- end }}

{{- define "cinder-csi.nodeName" -}}
{{- include "cinder-csi.suffixed" (list . "node") }}
{{- end }}

{{- define "cinder-csi.controllerServiceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (include "cinder-csi.controllerName" .) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cinder-csi.nodeServiceAccountName" -}}
{{- if .Values.node.serviceAccount.create }}
{{- default (include "cinder-csi.nodeName" .) .Values.node.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.node.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Cloud config: "true" when the chart creates the Secret from inline content.
*/}}
{{- define "cinder-csi.cloudInline" -}}
{{- if or .Values.cloud.cloudsYaml .Values.cloud.cloudConf }}true{{ end }}
{{- end }}

{{/*
Name of the Secret holding the controller's cloud config.
*/}}
{{- define "cinder-csi.cloudSecretName" -}}
{{- if include "cinder-csi.cloudInline" . }}
{{- include "cinder-csi.suffixed" (list . "cloud-config") }}
{{- else if .Values.cloud.secretName }}
{{- .Values.cloud.secretName }}
{{- else }}
{{- fail "cloud: no OpenStack credentials. Set cloud.secretName (and cloud.secretKey) to an existing Secret holding a clouds.yaml or cloud.conf, or give the content inline with cloud.cloudsYaml or cloud.cloudConf." }}
{{- end }}
{{- end }}

{{/*
Key (file name under /etc/config) of the controller's cloud config.
*/}}
{{- define "cinder-csi.cloudSecretKey" -}}
{{- if .Values.cloud.cloudConf }}cloud.conf
{{- else if .Values.cloud.cloudsYaml }}clouds.yaml
{{- else }}{{ required "cloud.secretKey must name the cloud config's key in cloud.secretName" .Values.cloud.secretKey }}
{{- end }}
{{- end }}

{{/*
Secret and key of the node plugins' cloud config (inline ephemeral volumes only).
*/}}
{{- define "cinder-csi.nodeCloudSecretName" -}}
{{- default (include "cinder-csi.cloudSecretName" .) .Values.ephemeral.secretName }}
{{- end }}

{{- define "cinder-csi.nodeCloudSecretKey" -}}
{{- if .Values.ephemeral.secretName }}
{{- default (include "cinder-csi.cloudSecretKey" .) .Values.ephemeral.secretKey }}
{{- else }}
{{- include "cinder-csi.cloudSecretKey" . }}
{{- end }}
{{- end }}

{{/*
Plugin directory on the node, where the driver's socket lives.
*/}}
{{- define "cinder-csi.kubeletDir" -}}
{{- .Values.node.kubeletPath | trimSuffix "/" }}
{{- end }}

{{- define "cinder-csi.pluginDir" -}}
{{- printf "%s/plugins/%s" (include "cinder-csi.kubeletDir" .) .Values.driverName }}
{{- end }}

{{/*
Leader-election arguments shared by the controller sidecars.
*/}}
{{- define "cinder-csi.leaderElectionArgs" -}}
- --leader-election
- {{ printf "--leader-election-namespace=%s" .Release.Namespace | quote }}
{{- with .Values.controller.leaderElection.leaseDuration }}
- {{ printf "--leader-election-lease-duration=%s" . | quote }}
{{- end }}
{{- with .Values.controller.leaderElection.renewDeadline }}
- {{ printf "--leader-election-renew-deadline=%s" . | quote }}
{{- end }}
{{- with .Values.controller.leaderElection.retryPeriod }}
- {{ printf "--leader-election-retry-period=%s" . | quote }}
{{- end }}
{{- end }}

{{/*
Checks of what values.schema.json cannot see: combinations of values, and ports that
would collide. Each single value is the schema's to check (helm validates it before
any template runs), and the driver refuses a bad flag at start all the same: the
chart keeps no third copy of those rules.
*/}}
{{- define "cinder-csi.validate" -}}
{{- if and .Values.node.nodeIDFromNodeName (eq .Values.attacher "nova") }}
{{- fail "node.nodeIDFromNodeName needs attacher: cinder (with nova the node ID is the Nova server UUID, read from the config drive or metadata service)" }}
{{- end }}
{{- $cports := include "cinder-csi.controllerPortPairs" . | fromJsonArray }}
{{- $nports := include "cinder-csi.nodePortPairs" . | fromJsonArray }}
{{- include "cinder-csi.uniquePorts" (dict "ports" $cports "why" "the controller's containers share one network namespace, so each needs its own port") }}
{{- include "cinder-csi.uniquePorts" (dict "ports" $nports "why" "the node plugin's containers share one network namespace, so each needs its own port") }}
{{- if and .Values.controller.hostNetwork .Values.node.hostNetwork }}
{{- include "cinder-csi.uniquePorts" (dict "ports" (concat $cports $nports) "why" "with controller.hostNetwork and node.hostNetwork both pods bind their ports on the node, and a node plugin runs on every node; move the controller's (controller.healthPort, controller.livenessProbePort, metrics.ports.*)") }}
{{- end }}
{{- $key := include "cinder-csi.cloudSecretKey" . }}
{{- if or (contains "/" $key) (has $key (list "." "..")) }}
{{- fail (printf "cloud.secretKey %q must be a plain file name" $key) }}
{{- end }}
{{- $_ := include "cinder-csi.cloudSecretName" . }}
{{- end }}

{{/*
One sidecar of the controller pod (provisioner, attacher, snapshotter, resizer): the
driver's socket, the log arguments, .values.timeout, the sidecar's own .args, leader
election, with metrics its port (.port, named .portName), then .values.additionalArgs,
resources and the pod's container securityContext. Call with (dict "root" $ "name" ...
"values" <sidecars.X> "args" <list> "port" <int> "portName" <string>).
*/}}
{{- define "cinder-csi.controllerSidecar" -}}
{{- $root := .root }}
{{- $v := .values }}
- name: {{ .name }}
  image: {{ include "cinder-csi.image" (dict "image" $v.image "root" $root) | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args:
    - --csi-address=$(ADDRESS)
    {{- include "cinder-csi.logArgs" $root | nindent 4 }}
    - {{ printf "--timeout=%s" $v.timeout | quote }}
    {{- range .args }}
    - {{ . | quote }}
    {{- end }}
    {{- include "cinder-csi.leaderElectionArgs" $root | nindent 4 }}
    {{- if $root.Values.metrics.enabled }}
    - {{ printf "--http-endpoint=:%d" (int .port) | quote }}
    {{- end }}
    {{- with $v.additionalArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  env:
    - name: ADDRESS
      value: /csi/csi.sock
  {{- if $root.Values.metrics.enabled }}
  ports:
    - name: {{ .portName }}
      containerPort: {{ .port }}
      protocol: TCP
  {{- end }}
  {{- with $root.Values.controller.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: socket-dir
      mountPath: /csi
{{- end }}

{{/*
Log arguments of the driver and of every sidecar: verbosity and format (all of them
take --logging-format, text or json).
*/}}
{{- define "cinder-csi.logArgs" -}}
- {{ printf "--v=%d" (int .Values.logLevel) | quote }}
- {{ printf "--logging-format=%s" .Values.logFormat | quote }}
{{- end }}

{{/*
"true" when the cluster serves the API of the VolumeSnapshotClasses / the
VolumeAttributesClasses. helm install and upgrade ask the cluster; helm template and
lint know only what --api-versions says.
*/}}
{{- define "cinder-csi.snapshotAPIServed" -}}
{{- if .Capabilities.APIVersions.Has "snapshot.storage.k8s.io/v1/VolumeSnapshotClass" }}true{{ end }}
{{- end }}

{{- define "cinder-csi.vacAPIServed" -}}
{{- if .Capabilities.APIVersions.Has "storage.k8s.io/v1/VolumeAttributesClass" }}true{{ end }}
{{- end }}

{{/*
Comma-separated names of a list of classes.
*/}}
{{- define "cinder-csi.names" -}}
{{- range $i, $c := . }}{{ if $i }}, {{ end }}{{ $c.name }}{{ end }}
{{- end }}

{{/*
Ports each pod listens on, as a JSON list of [value name, port]: the containers of a
pod share its network namespace, and with hostNetwork the node's.
*/}}
{{- define "cinder-csi.controllerPortPairs" -}}
{{- $p := list (list "controller.healthPort" .Values.controller.healthPort) (list "controller.livenessProbePort" .Values.controller.livenessProbePort) }}
{{- if .Values.metrics.enabled }}
{{- $p = append $p (list "metrics.ports.provisioner" .Values.metrics.ports.provisioner) }}
{{- $p = append $p (list "metrics.ports.attacher" .Values.metrics.ports.attacher) }}
{{- if .Values.snapshots.enabled }}
{{- $p = append $p (list "metrics.ports.snapshotter" .Values.metrics.ports.snapshotter) }}
{{- end }}
{{- $p = append $p (list "metrics.ports.resizer" .Values.metrics.ports.resizer) }}
{{- end }}
{{- toJson $p }}
{{- end }}

{{- define "cinder-csi.nodePortPairs" -}}
{{- toJson (list (list "node.healthPort" .Values.node.healthPort) (list "node.livenessProbePort" .Values.node.livenessProbePort) (list "node.registrarHealthPort" .Values.node.registrarHealthPort)) }}
{{- end }}

{{/*
Fails when two entries of .ports ([name, port] pairs) have the same port; .why says
why they must differ.
*/}}
{{- define "cinder-csi.uniquePorts" -}}
{{- $seen := dict }}
{{- range .ports }}
{{- $port := toString (index . 1) }}
{{- if hasKey $seen $port }}
{{- fail (printf "%s and %s are both %s: %s" (get $seen $port) (index . 0) $port $.why) }}
{{- end }}
{{- $_ := set $seen $port (index . 0) }}
{{- end }}
{{- end }}

{{/*
The controller's ports in words, for NOTES.txt.
*/}}
{{- define "cinder-csi.controllerPorts" -}}
{{- range $i, $p := include "cinder-csi.controllerPortPairs" . | fromJsonArray }}{{ if $i }}, {{ end }}{{ index $p 1 }} ({{ index $p 0 }}){{ end }}
{{- end }}

{{/* The Secret holding the publish key, and its key. */}}
{{- define "cinder-csi.publishKeySecretName" -}}
{{- default (include "cinder-csi.suffixed" (list . "publish-key")) .Values.publishKey.secretName }}
{{- end }}

{{- define "cinder-csi.publishKeySecretKey" -}}
{{- if .Values.publishKey.secretName }}{{ .Values.publishKey.secretKey }}{{ else }}key{{ end }}
{{- end }}

{{/*
Values renamed to the names of the EBS CSI driver's chart. For one release an old
name that is set is still read: it is copied onto the new name (it wins over the new
name's value) and NOTES.txt asks to rename it. Every template that reads a renamed
value includes this first (a template's order of rendering is not known); doing it
twice does the same.
*/}}
{{- define "cinder-csi.compat" -}}
{{- $v := .Values }}
{{- if hasKey $v "kubeletDir" }}{{ $_ := set $v.node "kubeletPath" $v.kubeletDir }}{{ end }}
{{- if hasKey $v.controller "replicas" }}{{ $_ := set $v.controller "replicaCount" $v.controller.replicas }}{{ end }}
{{- if hasKey $v.controller "strategy" }}{{ $_ := set $v.controller "updateStrategy" $v.controller.strategy }}{{ end }}
{{- if hasKey $v.controller "extraArgs" }}{{ $_ := set $v.controller "additionalArgs" $v.controller.extraArgs }}{{ end }}
{{- if hasKey $v.node "extraArgs" }}{{ $_ := set $v.node "additionalArgs" $v.node.extraArgs }}{{ end }}
{{- range $name, $s := $v.sidecars }}
{{- if hasKey $s "extraArgs" }}{{ $_ := set $s "additionalArgs" $s.extraArgs }}{{ end }}
{{- end }}
{{- end }}

{{/*
The old value names that are set, each with its new name, comma-separated; empty
when none is.
*/}}
{{- define "cinder-csi.oldNames" -}}
{{- $v := .Values }}
{{- $old := list }}
{{- if hasKey $v "kubeletDir" }}{{ $old = append $old "kubeletDir (now node.kubeletPath)" }}{{ end }}
{{- if hasKey $v.controller "replicas" }}{{ $old = append $old "controller.replicas (now controller.replicaCount)" }}{{ end }}
{{- if hasKey $v.controller "strategy" }}{{ $old = append $old "controller.strategy (now controller.updateStrategy)" }}{{ end }}
{{- if hasKey $v.controller "extraArgs" }}{{ $old = append $old "controller.extraArgs (now controller.additionalArgs)" }}{{ end }}
{{- if hasKey $v.node "extraArgs" }}{{ $old = append $old "node.extraArgs (now node.additionalArgs)" }}{{ end }}
{{- range $name, $s := $v.sidecars }}
{{- if hasKey $s "extraArgs" }}{{ $old = append $old (printf "sidecars.%s.extraArgs (now sidecars.%s.additionalArgs)" $name $name) }}{{ end }}
{{- end }}
{{- join ", " $old }}
{{- end }}
