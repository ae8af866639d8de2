package driver

import (
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/status"
)

// One function per node RPC turns a request into typed, checked arguments.

type stageArgs struct {
	volumeID    string
	stagingPath string
	cap         capability
	mkfsOptions []string
	handover    handover
}

func checkVolumeID(id string) error {
	if id == "" {
		return invalid("volume_id is required")
	}
	return checkID("volume_id", id)
}

func validateNodeStage(req *csi.NodeStageVolumeRequest) (stageArgs, error) {
	a := stageArgs{volumeID: req.GetVolumeId(), stagingPath: req.GetStagingTargetPath()}
	if a.volumeID == "" {
		return a, invalid("volume_id is required")
	}
	if err := checkPath("staging_target_path", a.stagingPath); err != nil {
		return a, err
	}
	var err error
	if a.cap, err = parseCapability(req.GetVolumeCapability()); err != nil {
		return a, err
	}
	if a.mkfsOptions, err = parseMkfsOptions(req.GetVolumeContext()[ctxMkfsOptions]); err != nil {
		return a, err
	}
	if a.handover, err = parsePublishContext(req.GetPublishContext()); err != nil {
		return a, err
	}
	return a, checkID("volume_id", a.volumeID)
}

func validateNodeUnstage(req *csi.NodeUnstageVolumeRequest) (string, string, error) {
	return req.GetVolumeId(), req.GetStagingTargetPath(), checkIDAndPath(req.GetVolumeId(), "staging_target_path", req.GetStagingTargetPath())
}

// checkIDAndPath checks a volume ID and a path, required fields before existence: a
// missing or bad path is InvalidArgument even when the ID names no volume (NotFound).
func checkIDAndPath(id, pathField, path string) error {
	if id == "" {
		return invalid("volume_id is required")
	}
	if err := checkPath(pathField, path); err != nil {
		return err
	}
	return checkID("volume_id", id)
}

type nodePublishArgs struct {
	volumeID    string
	stagingPath string
	targetPath  string
	cap         capability
	readOnly    bool
	handover    handover
}

func validateNodePublish(req *csi.NodePublishVolumeRequest) (nodePublishArgs, error) {
	a := nodePublishArgs{volumeID: req.GetVolumeId(), stagingPath: req.GetStagingTargetPath(),
		targetPath: req.GetTargetPath(), readOnly: req.GetReadonly()}
	if isEphemeralRequest(req.GetVolumeContext()) {
		// Checked first: kubelet sends no staging path for inline volumes, and "staging
		// path required" would hide what is really wrong.
		return a, invalid("inline ephemeral volumes are not enabled on this node plugin: an administrator can start it with --ephemeral " +
			"(see docs/ephemeral.md); otherwise use a generic ephemeral volume (a PVC template) or a PersistentVolumeClaim")
	}
	if a.volumeID == "" {
		return a, invalid("volume_id is required")
	}
	if err := checkPath("staging_target_path", a.stagingPath); err != nil {
		return a, err
	}
	if err := checkPath("target_path", a.targetPath); err != nil {
		return a, err
	}
	if a.targetPath == a.stagingPath || strings.HasPrefix(a.targetPath, a.stagingPath+"/") {
		return a, invalid("target_path %q must not be the staging path or inside it", a.targetPath)
	}
	var err error
	if a.cap, err = parseCapability(req.GetVolumeCapability()); err != nil {
		return a, err
	}
	if a.handover, err = parsePublishContext(req.GetPublishContext()); err != nil {
		return a, err
	}
	return a, checkID("volume_id", a.volumeID)
}

func validateNodeUnpublish(req *csi.NodeUnpublishVolumeRequest) (string, string, error) {
	return req.GetVolumeId(), req.GetTargetPath(), checkIDAndPath(req.GetVolumeId(), "target_path", req.GetTargetPath())
}

type volumePathArgs struct {
	volumeID    string
	volumePath  string
	stagingPath string
}

func validateVolumePath(id, volumePath, stagingPath string) (volumePathArgs, error) {
	a := volumePathArgs{volumeID: id, volumePath: volumePath, stagingPath: stagingPath}
	if id == "" {
		return a, invalid("volume_id is required")
	}
	if volumePath == "" {
		return a, invalid("volume_path is required")
	}
	if err := checkPath("volume_path", volumePath); err != nil {
		// Stats and expansion only look at a path the CO published before; one that is
		// not absolute and clean cannot be such a path, so nothing is found there.
		return a, notFound("no volume is published at %q: %s", truncate(volumePath), status.Convert(err).Message())
	}
	if stagingPath != "" {
		if err := checkPath("staging_target_path", stagingPath); err != nil {
			return a, err
		}
	}
	if isEphemeralHandle(id) {
		// kubelet asks for the stats of inline ephemeral volumes by their handle; only
		// the path is looked at.
		return a, nil
	}
	return a, checkID("volume_id", id)
}
