// Package driver implements the CSI Identity, Controller and Node services.
//
// It knows CSI only: requests are validated in validate.go, StorageClass and
// VolumeSnapshotClass parameters are parsed in params.go, cloud and host errors become
// gRPC codes in errors.go, and per-volume operations are serialised by locks.go. It
// talks to OpenStack only through the pkg/cinder interfaces and to the host only
// through the pkg/mount interfaces; it must not import gophercloud or mount-utils.
package driver
