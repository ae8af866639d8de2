package driver

import (
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

type createGroupSnapshotArgs struct {
	name      string
	volumeIDs []string
	params    groupSnapshotParams
}

func validateCreateGroupSnapshot(req *csi.CreateVolumeGroupSnapshotRequest) (createGroupSnapshotArgs, error) {
	a := createGroupSnapshotArgs{name: req.GetName(), volumeIDs: req.GetSourceVolumeIds()}
	if err := checkName("name", a.name); err != nil {
		return a, err
	}
	if len(a.volumeIDs) == 0 {
		return a, invalid("source_volume_ids is required: list the volumes to snapshot together")
	}
	for i, id := range a.volumeIDs {
		if !uuidRE.MatchString(id) {
			return a, notFound("source_volume_ids[%d] %q is not a Cinder UUID, so no such volume exists", i, truncate(id))
		}
		if slices.Contains(a.volumeIDs[:i], id) {
			return a, invalid("source_volume_ids lists volume %s twice", id)
		}
	}
	var err error
	a.params, err = parseGroupSnapshotParams(req.GetParameters())
	return a, err
}

// checkGroupSnapshotID checks the group_snapshot_id of Get and Delete, and the
// snapshot_ids that come with it.
func checkGroupSnapshotID(id string, snapshotIDs []string) error {
	if err := checkID("group_snapshot_id", id); err != nil {
		return err
	}
	for i, s := range snapshotIDs {
		if !uuidRE.MatchString(s) {
			return invalid("snapshot_ids[%d] %q is not a Cinder UUID: pass the snapshot IDs this group snapshot returned", i, truncate(s))
		}
	}
	return nil
}
