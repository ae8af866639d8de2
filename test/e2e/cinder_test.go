package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/realnova"
)

// The Cinder side: what the cloud holds, and Cinder's own time for each operation
// (bare API calls with 50 ms polls), the yardstick of the timing summary.

// inventory is every volume, snapshot and backup ID in the project.
func (e *env) inventory(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	vols, _, err := e.cloud.ListVolumes(ctx, cinder.ListOpts{})
	must(t, err)
	for _, v := range vols {
		out["volume "+v.ID] = v.Name
	}
	snaps, _, err := e.cloud.ListSnapshots(ctx, cinder.SnapshotListOpts{})
	must(t, err)
	for _, s := range snaps {
		out["snapshot "+s.ID] = s.Name
	}
	backups, _, err := e.cloud.ListBackups(ctx, cinder.SnapshotListOpts{})
	must(t, err)
	for _, b := range backups {
		out["backup "+b.ID] = b.Name
	}
	return out
}

// checkNothingLeft waits up to a minute for everything made since before to go.
func (e *env) checkNothingLeft(ctx context.Context, t *testing.T, before map[string]string) {
	t.Helper()
	var left []string
	for i := 0; i < 600; i++ {
		left = left[:0]
		for what, name := range e.inventory(ctx, t) {
			if _, old := before[what]; !old {
				left = append(left, what+" ("+name+")")
			}
		}
		if len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("left in Cinder after every Kubernetes object was deleted: %s", strings.Join(left, ", "))
}

// stack is the yardsticks' own Cinder client, made once and warmed with one call:
// a new token costs Cinder a Keystone validation on its first use (2 to 3 s on this
// machine), which is no part of the operation timed.
func (e *env) stack(ctx context.Context, t *testing.T) *gophercloud.ServiceClient {
	t.Helper()
	if e.yardstick != nil {
		return e.yardstick
	}
	st, err := realnova.NewStack(ctx, "local")
	if err != nil {
		t.Fatal(err)
	}
	if err := volumes.List(st.Volume, volumes.ListOpts{Limit: 1}).EachPage(ctx, func(context.Context, pagination.Page) (bool, error) {
		return false, nil // the first page is enough
	}); err != nil {
		t.Fatal(err)
	}
	e.yardstick = st.Volume
	return e.yardstick
}

// pollStatus polls a status every 50 ms until want (or error*), up to 3 minutes.
func pollStatus(ctx context.Context, t *testing.T, what string, get func() (string, error), want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		s, err := get()
		must(t, err)
		if s == want {
			return
		}
		if strings.HasPrefix(s, "error") {
			t.Fatalf("%s went to %s", what, s)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s stuck in %s", what, s)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func volumeStatus(ctx context.Context, vc *gophercloud.ServiceClient, id string) func() (string, error) {
	return func() (string, error) {
		v, err := volumes.Get(ctx, vc, id).Extract()
		if err != nil {
			return "", err
		}
		return v.Status, nil
	}
}

// ownVolume creates a 1 GiB standard volume directly, timed to available.
func (e *env) ownVolume(ctx context.Context, t *testing.T, vc *gophercloud.ServiceClient) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	v, err := volumes.Create(ctx, vc, volumes.CreateOpts{Name: "e2e-yardstick", Size: 1, VolumeType: "standard"}, nil).Extract()
	must(t, err)
	pollStatus(ctx, t, "volume "+v.ID, volumeStatus(ctx, vc, v.ID), "available")
	return v.ID, time.Since(start)
}

// dropVolume deletes a yardstick volume and waits until it is gone.
func dropVolume(ctx context.Context, t *testing.T, vc *gophercloud.ServiceClient, id string) {
	t.Helper()
	pollStatus(ctx, t, "volume "+id, volumeStatus(ctx, vc, id), "available")
	must(t, volumes.Delete(ctx, vc, id, volumes.DeleteOpts{}).ExtractErr())
	for i := 0; i < 1200; i++ {
		if _, err := volumes.Get(ctx, vc, id).Extract(); gophercloud.ResponseCodeIs(err, 404) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("yardstick volume %s not deleted", id)
}

func (e *env) cinderCreate(ctx context.Context, t *testing.T) time.Duration {
	vc := e.stack(ctx, t)
	id, took := e.ownVolume(ctx, t, vc)
	dropVolume(ctx, t, vc, id)
	return took
}

// cinderAttach times an attachment made as the driver's Cinder path does it:
// create with a connector, complete, until the volume is in-use.
func (e *env) cinderAttach(ctx context.Context, t *testing.T) time.Duration {
	vc := e.stack(ctx, t)
	id, _ := e.ownVolume(ctx, t, vc)
	start := time.Now()
	att, err := attachments.Create(ctx, vc, hostAttachment{"volume_uuid": id, "connector": map[string]any{
		"host": "e2e-yardstick", "ip": "127.0.0.1", "initiator": "iqn.2026-11.local:e2e", "platform": "x86_64",
		"os_type": "linux", "multipath": false, "mountpoint": "/csi-node/e2e-yardstick"}}).Extract()
	must(t, err)
	must(t, attachments.Complete(ctx, vc, att.ID).ExtractErr())
	pollStatus(ctx, t, "volume "+id, volumeStatus(ctx, vc, id), "in-use")
	took := time.Since(start)
	must(t, attachments.Delete(ctx, vc, att.ID).ExtractErr())
	dropVolume(ctx, t, vc, id)
	return took
}

// cinderSnapshot times a snapshot of volumeID to available, then deletes it.
func (e *env) cinderSnapshot(ctx context.Context, t *testing.T, volumeID string) time.Duration {
	vc := e.stack(ctx, t)
	start := time.Now()
	s, err := snapshots.Create(ctx, vc, snapshots.CreateOpts{VolumeID: volumeID, Name: "e2e-yardstick"}).Extract()
	must(t, err)
	get := func() (string, error) {
		got, err := snapshots.Get(ctx, vc, s.ID).Extract()
		if err != nil {
			return "", err
		}
		return got.Status, nil
	}
	pollStatus(ctx, t, "snapshot "+s.ID, get, "available")
	took := time.Since(start)
	must(t, snapshots.Delete(ctx, vc, s.ID).ExtractErr())
	for i := 0; i < 600; i++ {
		if _, err := snapshots.Get(ctx, vc, s.ID).Extract(); gophercloud.ResponseCodeIs(err, 404) {
			return took
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("yardstick snapshot %s not deleted", s.ID)
	return took
}

// hostAttachment is an attachment request without instance_uuid (gophercloud's
// CreateOpts always sends one, and Cinder refuses an empty one).
type hostAttachment map[string]any

func (h hostAttachment) ToAttachmentCreateMap() (map[string]any, error) {
	return map[string]any{"attachment": map[string]any(h)}, nil
}
