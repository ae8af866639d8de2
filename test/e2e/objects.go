package e2e

import (
	"fmt"

	"github.com/cinder-csi/cinder-csi-driver/pkg/driver"
)

// The objects the test makes, by the names it uses for them.
const (
	driverName = "cinder.csi.openstack.org"
	nodeName   = "e2e-node"
)

// classes: StorageClasses with Immediate binding and with WaitForFirstConsumer
// (the chart's default), a VolumeAttributesClass for the retype, and the two
// VolumeSnapshotClasses.
var classes = fmt.Sprintf(`
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: e2e-standard}
provisioner: %[1]s
volumeBindingMode: Immediate
reclaimPolicy: Delete
allowVolumeExpansion: true
parameters: {type: standard}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: e2e-wffc}
provisioner: %[1]s
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
parameters: {type: standard}
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata: {name: e2e-fast}
driverName: %[1]s
parameters: {type: fast}
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: e2e-snapshot}
driver: %[1]s
deletionPolicy: Delete
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {name: e2e-backup}
driver: %[1]s
deletionPolicy: Delete
parameters: {type: backup}
`, driverName)

// nodeObjects is what kubelet and node-driver-registrar would have made for the node
// from the driver's NodeGetInfo: its ID (nodeID) and its zone as a topology label, which
// the provisioner turns into the volume's accessibility requirements; room for
// pods, Ready, and attach/detach left to the controller manager, as kubelet
// registers a node by default.
func nodeObjects(nodeID string) string {
	return playedNode(nodeName, "nova", nodeID, true)
}

// playedNode is a Node and its CSINode in zone; with controllerAttach the controller
// manager attaches its volumes, else (kubelet's own attach, which no kubelet plays)
// nothing is attached to it.
func playedNode(name, zone, nodeID string, controllerAttach bool) string {
	annotations := ""
	if controllerAttach {
		annotations = "\n  annotations: {volumes.kubernetes.io/controller-managed-attach-detach: \"true\"}"
	}
	return fmt.Sprintf(`
apiVersion: v1
kind: Node
metadata:
  name: %[2]s
  labels: {%[3]s: %[5]s, kubernetes.io/hostname: %[2]s}%[6]s
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
  conditions:
  - {type: Ready, status: "True", reason: KubeletReady, message: played by the e2e test}
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: %[2]s}
spec:
  drivers:
  - name: %[1]s
    nodeID: %[4]q
    topologyKeys: [%[3]s]
`, driverName, name, driver.TopologyZoneKey, nodeID, zone, annotations)
}

// zoneClass is an Immediate StorageClass whose only allowed zone is zone.
func zoneClass(name, zone string) string {
	return fmt.Sprintf(`
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: %[3]s}
provisioner: %[1]s
volumeBindingMode: Immediate
reclaimPolicy: Delete
parameters: {type: standard}
allowedTopologies:
- matchLabelExpressions:
  - {key: %[2]s, values: [%[4]s]}
`, driverName, driver.TopologyZoneKey, name, zone)
}

func pvc(name, size, fromSnapshot string) string {
	return claim(name, "e2e-standard", size, fromSnapshot)
}

func claim(name, class, size, fromSnapshot string) string {
	src := ""
	if fromSnapshot != "" {
		src = fmt.Sprintf("\n  dataSource: {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot, name: %s}", fromSnapshot)
	}
	return fmt.Sprintf(`
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: %s, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: %s
  resources: {requests: {storage: %s}}%s
`, name, class, size, src)
}

func snapshot(name, class, pvcName string) string {
	return fmt.Sprintf(`
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: %s, namespace: default}
spec:
  volumeSnapshotClassName: %s
  source: {persistentVolumeClaimName: %s}
`, name, class, pvcName)
}

func volumeAttachment(name, pv string) string {
	return fmt.Sprintf(`
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {name: %s}
spec:
  attacher: %s
  nodeName: %s
  source: {persistentVolumeName: %s}
`, name, driverName, nodeName, pv)
}

// pod is a workload of claim; no kubelet ever runs it, but the scheduler places it
// and the controller manager attaches its volume.
func pod(name, claim string) string {
	return fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: default}
spec:
  automountServiceAccountToken: false
  containers:
  - name: app
    image: registry.k8s.io/pause:3.10
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: %s}
`, name, claim)
}
