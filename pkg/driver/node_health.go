package driver

import (
	"context"

	"github.com/container-storage-interface/spec/lib/go/csi"
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
