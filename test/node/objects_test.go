package node

import (
	"fmt"
	"strings"
)

// The objects the suite makes. Every pod runs the locally built busybox image,
// never pulled, and stops at once when deleted.

// claimYAML is a PVC of the chart's default StorageClass (cinder-standard:
// WaitForFirstConsumer, Cinder's default volume type). source is "" or a dataSource
// line; mode is Filesystem or Block.
func claimYAML(name, size, mode, source string) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: %s, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: cinder-standard
  volumeMode: %s
  resources: {requests: {storage: %s}}%s
`, name, mode, size, source)
}

func fromSnapshot(name string) string {
	return "\n  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: " + name + "}"
}

func fromClaim(name string) string {
	return "\n  dataSource: {kind: PersistentVolumeClaim, name: " + name + "}"
}

func snapshotYAML(name, claim string) string {
	return fmt.Sprintf(`
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: %s, namespace: default}
spec:
  volumeSnapshotClassName: cinder-snapshot
  source: {persistentVolumeClaimName: %s}
`, name, claim)
}

// podSpec is a pod's spec below "spec:", indented by two.
type podSpec struct {
	claims   []string // mounted at /data/<claim>, or /data for a single one
	block    string   // a Block claim at /dev/xvda
	inline   string   // an inline ephemeral volume's attributes (YAML flow map) at /data
	security string   // a securityContext flow map
}

// sleeper is a pod that does nothing but keep its volumes in use until deleted.
const sleeper = `exec sleep 100000`

func podYAML(name string, s podSpec) string {
	var mounts, devices, vols []string
	for _, c := range s.claims {
		path := "/data"
		if len(s.claims) > 1 {
			path = "/data/" + c
		}
		mounts = append(mounts, fmt.Sprintf("{name: %s, mountPath: %s}", c, path))
		vols = append(vols, fmt.Sprintf("  - {name: %s, persistentVolumeClaim: {claimName: %s}}", c, c))
	}
	if s.block != "" {
		devices = append(devices, fmt.Sprintf("{name: %s, devicePath: /dev/xvda}", s.block))
		vols = append(vols, fmt.Sprintf("  - {name: %s, persistentVolumeClaim: {claimName: %s}}", s.block, s.block))
	}
	if s.inline != "" {
		mounts = append(mounts, "{name: scratch, mountPath: /data}")
		vols = append(vols, fmt.Sprintf("  - {name: scratch, csi: {driver: %s, volumeAttributes: %s}}", driverName, s.inline))
	}
	sec := ""
	if s.security != "" {
		sec = "\n  securityContext: " + s.security
	}
	return fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  automountServiceAccountToken: false%s
  containers:
  - name: app
    image: %s
    imagePullPolicy: Never
    command: [sh, -c, %q]
    volumeMounts: [%s]
    volumeDevices: [%s]
  volumes:
%s
`, name, sec, busybox, sleeper, strings.Join(mounts, ", "), strings.Join(devices, ", "), strings.Join(vols, "\n"))
}

// statefulSetYAML: replicas pods, each with its own claim from a template.
func statefulSetYAML(name string, replicas int) string {
	return fmt.Sprintf(`
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: %[1]s, namespace: default}
spec:
  replicas: %[2]d
  serviceName: %[1]s
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 1
      automountServiceAccountToken: false
      containers:
      - name: app
        image: %[3]s
        imagePullPolicy: Never
        command: [sh, -c, %[4]q]
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: cinder-standard
      resources: {requests: {storage: 1Gi}}
`, name, replicas, busybox, sleeper)
}
