package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// side is one way of doing the benchmarked operations: through the driver's CSI
// API, or straight to Cinder and Nova with gophercloud.
type side interface {
	name() string
	createVolume(ctx context.Context, name, fromSnapshot string) (string, error)
	deleteVolume(ctx context.Context, id string) error
	createSnapshot(ctx context.Context, name, volumeID string) (string, error)
	deleteSnapshot(ctx context.Context, id string) error
	expand(ctx context.Context, id string, gib int) error
	publish(ctx context.Context, id string, node target) error
	unpublish(ctx context.Context, id string, node target) error
}

// target is a node on one attach path: a host on the Cinder path (with the node ID
// its node plugin would report), a Nova server on the other.
type target struct {
	nova   bool
	id     string // CSI node ID
	server string // Nova server UUID, or the host name
}

const gib = int64(1) << 30

// ours drives the real driver over its socket, as the sidecars do.
type ours struct{ cinderPath, novaPath *driverProcess }

func (o *ours) name() string { return "ours" }

func (o *ours) ctrl(node target) csi.ControllerClient {
	if node.nova {
		return o.novaPath.ctrl
	}
	return o.cinderPath.ctrl
}

func mountCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

func (o *ours) createVolume(ctx context.Context, name, fromSnapshot string) (string, error) {
	req := &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: gib},
		VolumeCapabilities: []*csi.VolumeCapability{mountCap()}}
	if fromSnapshot != "" {
		req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: fromSnapshot}}}
	}
	resp, err := o.cinderPath.ctrl.CreateVolume(ctx, req)
	if err != nil {
		return "", err
	}
	return resp.GetVolume().GetVolumeId(), nil
}

func (o *ours) deleteVolume(ctx context.Context, id string) error {
	_, err := o.cinderPath.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id})
	return err
}

// createSnapshot calls again until ready, as the snapshotter does when the first
// answer says not ready yet.
func (o *ours) createSnapshot(ctx context.Context, name, volumeID string) (string, error) {
	for {
		resp, err := o.cinderPath.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volumeID})
		if err != nil {
			return "", err
		}
		if resp.GetSnapshot().GetReadyToUse() {
			return resp.GetSnapshot().GetSnapshotId(), nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return "", err
		}
	}
}

func (o *ours) deleteSnapshot(ctx context.Context, id string) error {
	_, err := o.cinderPath.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: id})
	return err
}

func (o *ours) expand(ctx context.Context, id string, size int) error {
	_, err := o.cinderPath.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id,
		CapacityRange: &csi.CapacityRange{RequiredBytes: int64(size) * gib}, VolumeCapability: mountCap()})
	return err
}

func (o *ours) publish(ctx context.Context, id string, node target) error {
	_, err := o.ctrl(node).ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: node.id, VolumeCapability: mountCap()})
	return err
}

func (o *ours) unpublish(ctx context.Context, id string, node target) error {
	_, err := o.ctrl(node).ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: node.id})
	return err
}

// direct is the baseline: one gophercloud request to start the change, then a
// status GET every 50 ms until it is done. It knows nothing the driver must find
// out (no name lookups, no checks), so it is the floor the driver is held to.
type direct struct {
	vc, cc *gophercloud.ServiceClient
	mu     sync.Mutex
	atts   map[string]string // volume -> Cinder attachment ID
}

func (d *direct) name() string { return "direct" }

const directPoll = 50 * time.Millisecond

// until polls get every 50 ms until it reports done; an error state ends it.
func until(ctx context.Context, what string, get func() (string, bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		st, done, err := get()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if done {
			return nil
		}
		if strings.HasPrefix(st, "error") {
			return fmt.Errorf("%s went to %s", what, st)
		}
		if err := sleep(ctx, directPoll); err != nil {
			return fmt.Errorf("%s stuck in %s: %w", what, st, err)
		}
	}
}

func (d *direct) volumeIs(ctx context.Context, id string, ok func(*volumes.Volume) bool) func() (string, bool, error) {
	return func() (string, bool, error) {
		v, err := volumes.Get(ctx, d.vc, id).Extract()
		if err != nil {
			return "", false, err
		}
		return v.Status, ok(v), nil
	}
}

func status(want string) func(*volumes.Volume) bool {
	return func(v *volumes.Volume) bool { return v.Status == want }
}

func (d *direct) createVolume(ctx context.Context, name, fromSnapshot string) (string, error) {
	v, err := volumes.Create(ctx, d.vc, volumes.CreateOpts{Name: name, Size: 1, SnapshotID: fromSnapshot}, nil).Extract()
	if err != nil {
		return "", err
	}
	return v.ID, until(ctx, "volume "+v.ID, d.volumeIs(ctx, v.ID, status("available")))
}

func (d *direct) deleteVolume(ctx context.Context, id string) error {
	if err := volumes.Delete(ctx, d.vc, id, volumes.DeleteOpts{}).ExtractErr(); err != nil {
		return err
	}
	return until(ctx, "deleting volume "+id, func() (string, bool, error) {
		v, err := volumes.Get(ctx, d.vc, id).Extract()
		if gophercloud.ResponseCodeIs(err, 404) {
			return "", true, nil
		}
		if err != nil {
			return "", false, err
		}
		return v.Status, false, nil
	})
}

func (d *direct) createSnapshot(ctx context.Context, name, volumeID string) (string, error) {
	s, err := snapshots.Create(ctx, d.vc, snapshots.CreateOpts{Name: name, VolumeID: volumeID}).Extract()
	if err != nil {
		return "", err
	}
	return s.ID, until(ctx, "snapshot "+s.ID, func() (string, bool, error) {
		got, err := snapshots.Get(ctx, d.vc, s.ID).Extract()
		if err != nil {
			return "", false, err
		}
		return got.Status, got.Status == "available", nil
	})
}

func (d *direct) deleteSnapshot(ctx context.Context, id string) error {
	if err := snapshots.Delete(ctx, d.vc, id).ExtractErr(); err != nil {
		return err
	}
	return until(ctx, "deleting snapshot "+id, func() (string, bool, error) {
		s, err := snapshots.Get(ctx, d.vc, id).Extract()
		if gophercloud.ResponseCodeIs(err, 404) {
			return "", true, nil
		}
		if err != nil {
			return "", false, err
		}
		return s.Status, false, nil
	})
}

func (d *direct) expand(ctx context.Context, id string, size int) error {
	if err := volumes.ExtendSize(ctx, d.vc, id, volumes.ExtendSizeOpts{NewSize: size}).ExtractErr(); err != nil {
		return err
	}
	return until(ctx, "extending volume "+id, d.volumeIs(ctx, id, func(v *volumes.Volume) bool {
		return v.Size == size && v.Status == "available"
	}))
}

func (d *direct) publish(ctx context.Context, id string, node target) error {
	if node.nova {
		if _, err := volumeattach.Create(ctx, d.cc, node.server, volumeattach.CreateOpts{VolumeID: id}).Extract(); err != nil {
			return err
		}
		return until(ctx, "attaching "+id, d.volumeIs(ctx, id, status("in-use")))
	}
	att, err := attachments.Create(ctx, d.vc, testbed.HostAttachment{"volume_uuid": id, "connector": map[string]any{
		"host": node.server, "ip": "127.0.0.3", "initiator": "iqn.2026-12.bench:" + node.server, "platform": "x86_64",
		"os_type": "linux", "multipath": false}}).Extract()
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.atts[id] = att.ID
	d.mu.Unlock()
	if err := attachments.Complete(ctx, d.vc, att.ID).ExtractErr(); err != nil {
		return err
	}
	return until(ctx, "attaching "+id, d.volumeIs(ctx, id, status("in-use")))
}

func (d *direct) unpublish(ctx context.Context, id string, node target) error {
	// Not attached (a clean-up after a failed step) is fine, as for the driver.
	if node.nova {
		if err := volumeattach.Delete(ctx, d.cc, node.server, id).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
			return err
		}
	} else {
		d.mu.Lock()
		att, ok := d.atts[id]
		delete(d.atts, id)
		d.mu.Unlock()
		if !ok {
			return nil
		}
		if err := attachments.Delete(ctx, d.vc, att).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
			return err
		}
	}
	return until(ctx, "detaching "+id, d.volumeIs(ctx, id, status("available")))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
