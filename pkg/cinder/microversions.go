package cinder

import (
	"fmt"

	"github.com/gophercloud/gophercloud/v2"
)

// Every call's microversion, in one place. Each is the lowest that gives the call
// what it needs, so that the driver works against the oldest cloud possible.
const (
	// mvCinderBase is for calls that need nothing newer than v3.0.
	mvCinderBase = "3.0"
	// mvVolumeRead shows backup_id on volumes (3.47, Queens); creating a volume
	// from a backup needs the same version.
	mvVolumeRead       = "3.47"
	mvVolumeFromBackup = "3.47"
	// mvOnlineExtend extends an in-use volume (3.42, Pike).
	mvOnlineExtend = "3.42"
	// mvBackupMetadata accepts and shows backup metadata (3.43).
	mvBackupMetadata = "3.43"
	// mvAttachments is the attachments API: create, show, list, delete (3.27).
	mvAttachments = "3.27"
	// mvAttachComplete marks an attachment attached (3.44).
	mvAttachComplete = "3.44"
	// mvSnapshotRead shows a snapshot's group_snapshot_id (3.14).
	mvSnapshotRead = "3.14"
	// mvGroupTypes shows group types, and the default one (3.11).
	mvGroupTypes = "3.11"
	// mvGroups is the generic volume groups API: create, update, delete (3.13).
	mvGroups = "3.13"
	// mvGroupSnapshots is the group snapshots API (3.14).
	mvGroupSnapshots = "3.14"
	// mvGroupVolumes lists a group's volumes (list_volume, 3.25).
	mvGroupVolumes = "3.25"

	// mvNovaBase is Nova's v2.1 base: os-volume_attachments has been there since.
	mvNovaBase = "2.1"
)

// cinder returns the block-storage client pinned to microversion mv. It is a
// copy, so concurrent calls with different microversions do not race.
func (c *Client) cinder(mv string) *gophercloud.ServiceClient {
	sc := *c.volume
	sc.Microversion = mv
	return &sc
}

// nova returns the compute client pinned to mv, or an error wrapping
// ErrNotSupported when this cloud has no usable Nova.
func (c *Client) nova(mv string) (*gophercloud.ServiceClient, error) {
	if c.compute == nil {
		return nil, fmt.Errorf("%w: Nova is not available (%v); attach volumes through Cinder attachments instead", ErrNotSupported, c.computeErr)
	}
	sc := *c.compute
	sc.Microversion = mv
	return &sc, nil
}
