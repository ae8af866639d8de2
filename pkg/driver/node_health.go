package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// NodeGetVolumeHealth checks the paths it is given: a missing or stale mount makes the
// volume INACCESSIBLE from this node. Without paths nothing is known to be wrong.
func (d *Driver) NodeGetVolumeHealth(ctx context.Context, req *csi.NodeGetVolumeHealthRequest) (*csi.NodeGetVolumeHealthResponse, error) {
	if err := checkVolumeID(req.GetVolumeId()); err != nil {
		return nil, err
	}
	h := &csi.VolumeHealth{VolumeId: req.GetVolumeId()}
	for _, p := range []struct{ field, path string }{
		{"volume_publish_path", req.GetVolumePublishPath()}, {"staging_target_path", req.GetStagingTargetPath()},
	} {
		if p.path == "" {
			continue
		}
		if err := checkPath(p.field, p.path); err != nil {
			return nil, err
		}
		if msg := d.pathProblem(p.path); msg != "" {
			h.HealthStatuses = append(h.HealthStatuses, &csi.VolumeHealth_VolumeHealthEntry{
				Status: csi.VolumeHealthErrorType_INACCESSIBLE, Reason: "NotMounted", Message: p.field + " " + p.path + ": " + msg})
		}
	}
	return &csi.NodeGetVolumeHealthResponse{VolumeHealth: h}, nil
}

func (d *Driver) pathProblem(path string) string {
	ok, err := d.deps.Mounter.PathExists(path)
	switch {
	case err != nil:
		return "stale or corrupt mount: " + err.Error()
	case !ok:
		return "does not exist"
	}
	mounted, err := d.deps.Mounter.IsMountPoint(path)
	if err != nil {
		return err.Error()
	}
	if !mounted {
		return "is not a mount point"
	}
	return ""
}

// NodeGetStorageHealth reports what is wrong with the node's storage as a whole
// (mount.NodeStorage): UNREACHABLE when no volume it concerns can be staged here,
// DEGRADED when volumes of one filesystem lose a tool; nothing when healthy.
func (d *Driver) NodeGetStorageHealth(context.Context, *csi.NodeGetStorageHealthRequest) (*csi.NodeGetStorageHealthResponse, error) {
	if d.deps.StorageHealth == nil {
		return nil, unimplemented("NodeGetStorageHealth: this node plugin has no storage health check")
	}
	out := &csi.NodeGetStorageHealthResponse{}
	for _, p := range d.deps.StorageHealth.Problems() {
		h := &csi.NodeGetStorageHealthResponse_StorageBackendHealth{Status: csi.StorageHealthErrorType_STORAGE_DEGRADED, Reason: p.Reason, Message: p.Message}
		if p.Unreachable {
			h.Status = csi.StorageHealthErrorType_STORAGE_UNREACHABLE
		}
		if p.FSType != "" {
			h.VolumeCapability = &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: p.FSType}}}
		}
		out.BackendHealth = append(out.BackendHealth, h)
	}
	return out, nil
}

// NodeStorage is what NodeGetStorageHealth checks on a node plugin with these
// options: its state directory, the device nodes of its attach path, the tools.
func NodeStorage(o Options) mount.NodeStorage {
	n := mount.NodeStorage{StateDir: o.StateDir}
	if o.Attacher == AttacherNova {
		n.DiskByID = mount.DefaultDevDir
	} else {
		n.LoopControl = mount.LoopControl
	}
	return n
}
