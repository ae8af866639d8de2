// Package node runs the driver the way a cluster does, on one machine: the images
// built by `make image`, a real node (containerd, runc, CNI, kubelet) joined to the
// control plane of test/e2e/cluster.sh, and the Helm chart installed for real with
// --attacher cinder against the real local Cinder. Kubelet stages, publishes and
// unpublishes; node-driver-registrar registers the plugin; the pods read and write
// their volumes. Each step is checked on both sides: the Kubernetes objects, and
// Cinder and the host (attachments, mounts, loop devices).
//
// What is still played: no kube-proxy runs, so one NAT rule (test/node/node.sh) sends
// the kubernetes Service to the API server, and the controller pod uses the host
// network to reach the test bed's Cinder on 127.0.0.1.
package node
