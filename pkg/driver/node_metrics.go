package driver

import (
	"errors"

	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// nodeFailureKind sorts a failed node step for cinder_csi_node_failures_total by
// what the mount package says went wrong, else by the step (fallback).
func nodeFailureKind(err error, fallback string) string {
	switch {
	case errors.Is(err, mount.ErrDeviceNotFound):
		return "device-not-found"
	case errors.Is(err, mount.ErrFilesystemCorrupt):
		return "fsck"
	case errors.Is(err, mount.ErrFormatFailed), errors.Is(err, mount.ErrUnformattedReadOnly):
		return "format"
	case errors.Is(err, mount.ErrFilesystemMismatch):
		return "fs-mismatch"
	case errors.Is(err, mount.ErrMountConflict):
		return "mount-conflict"
	}
	return fallback
}

// nodeFailed counts a failed node step and returns err unchanged.
func (d *Driver) nodeFailed(op, fsType, fallback string, err error) error {
	d.deps.Metrics.NodeFailure(op, fsType, nodeFailureKind(err, fallback))
	return err
}

// publishFSType is the filesystem of a stage or publish: "block" for a raw block
// volume, else the type asked for (ext4 when none).
func publishFSType(c capability) string {
	switch {
	case c.block:
		return "block"
	case c.fsType == "":
		return defaultFSType
	}
	return c.fsType
}
