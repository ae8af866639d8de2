// Package driver implements the CSI Identity, Controller and Node services.
//
// It knows CSI only. Each RPC has one validating function (validate_common.go,
// validate_controller.go, validate_node.go) that turns the request into typed
// arguments; StorageClass and VolumeSnapshotClass parameters are parsed in
// params.go; the publish context, the controller's hand-over to the node, is
// written and parsed in publish_context.go; every gRPC status, and the mapping of
// cloud and host errors to codes, is made in errors.go; per-volume operations are
// serialised by locks.go. One file holds one RPC or a few of one kind
// (controller_*.go, node_*.go). It talks to OpenStack only through the pkg/cinder
// interfaces and to the host only through the pkg/mount interfaces; it must not
// import gophercloud or mount-utils.
package driver
