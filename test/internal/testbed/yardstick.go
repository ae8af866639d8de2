package testbed

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// Yardstick times bare Cinder operations (50 ms polls) on one warmed client: a new
// token costs Cinder a Keystone validation on its first use (2 to 3 s on this
// machine), which is no part of the operation timed.
type Yardstick struct {
	vc *gophercloud.ServiceClient
}

// NewYardstick authenticates to cloudName of the test bed's clouds.yaml and warms
// the token with one call.
func NewYardstick(ctx context.Context, cloudName string) (*Yardstick, error) {
	st, err := Login(ctx, cloudName)
	if err != nil {
		return nil, err
	}
	if err := volumes.List(st.Volume, volumes.ListOpts{Limit: 1}).EachPage(ctx, func(context.Context, pagination.Page) (bool, error) {
		return false, nil // the first page is enough
	}); err != nil {
		return nil, err
	}
	return &Yardstick{vc: st.Volume}, nil
}

// poll polls a status every 50 ms until want, an error state or 3 minutes.
func poll(ctx context.Context, what string, get func() (string, error), want string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		s, err := get()
		if err != nil {
			return err
		}
		if s == want {
			return nil
		}
		if strings.HasPrefix(s, "error") {
			return fmt.Errorf("%s went to %s", what, s)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s stuck in %s", what, s)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (y *Yardstick) volumeStatus(ctx context.Context, id string) func() (string, error) {
	return func() (string, error) {
		v, err := volumes.Get(ctx, y.vc, id).Extract()
		if err != nil {
			return "", err
		}
		return v.Status, nil
	}
}

// volume creates a 1 GiB standard volume, timed to available.
func (y *Yardstick) volume(ctx context.Context) (string, time.Duration, error) {
	start := time.Now()
	v, err := volumes.Create(ctx, y.vc, volumes.CreateOpts{Name: "e2e-yardstick", Size: 1, VolumeType: "standard"}, nil).Extract()
	if err != nil {
		return "", 0, err
	}
	err = poll(ctx, "volume "+v.ID, y.volumeStatus(ctx, v.ID), "available")
	return v.ID, time.Since(start), err
}

// drop deletes a yardstick volume and waits until it is gone.
func (y *Yardstick) drop(ctx context.Context, id string) error {
	if err := poll(ctx, "volume "+id, y.volumeStatus(ctx, id), "available"); err != nil {
		return err
	}
	if err := volumes.Delete(ctx, y.vc, id, volumes.DeleteOpts{}).ExtractErr(); err != nil {
		return err
	}
	for i := 0; i < 1200; i++ {
		if _, err := volumes.Get(ctx, y.vc, id).Extract(); gophercloud.ResponseCodeIs(err, 404) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("yardstick volume %s not deleted", id)
}

// Create is Cinder's time to create a 1 GiB volume (to available).
func (y *Yardstick) Create(ctx context.Context) (time.Duration, error) {
	id, took, err := y.volume(ctx)
	if id != "" {
		if derr := y.drop(ctx, id); err == nil {
			err = derr
		}
	}
	return took, err
}

// Attach is Cinder's time for an attachment made as the driver's Cinder path makes
// one: create with a connector, complete, until the volume is in-use.
func (y *Yardstick) Attach(ctx context.Context) (time.Duration, error) {
	id, _, err := y.volume(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = y.drop(ctx, id) }()
	start := time.Now()
	att, err := attachments.Create(ctx, y.vc, HostAttachment{"volume_uuid": id, "connector": map[string]any{
		"host": "e2e-yardstick", "ip": "127.0.0.1", "initiator": "iqn.2026-11.local:e2e", "platform": "x86_64",
		"os_type": "linux", "multipath": false, "mountpoint": "/csi-node/e2e-yardstick"}}).Extract()
	if err != nil {
		return 0, err
	}
	defer func() { _ = attachments.Delete(ctx, y.vc, att.ID).ExtractErr() }()
	if err := attachments.Complete(ctx, y.vc, att.ID).ExtractErr(); err != nil {
		return 0, err
	}
	err = poll(ctx, "volume "+id, y.volumeStatus(ctx, id), "in-use")
	return time.Since(start), err
}

// Snapshot is Cinder's time to snapshot volumeID (to available); the snapshot is
// deleted again.
func (y *Yardstick) Snapshot(ctx context.Context, volumeID string) (time.Duration, error) {
	start := time.Now()
	s, err := snapshots.Create(ctx, y.vc, snapshots.CreateOpts{VolumeID: volumeID, Name: "e2e-yardstick"}).Extract()
	if err != nil {
		return 0, err
	}
	get := func() (string, error) {
		got, err := snapshots.Get(ctx, y.vc, s.ID).Extract()
		if err != nil {
			return "", err
		}
		return got.Status, nil
	}
	err = poll(ctx, "snapshot "+s.ID, get, "available")
	took := time.Since(start)
	if derr := snapshots.Delete(ctx, y.vc, s.ID).ExtractErr(); err == nil {
		err = derr
	}
	for i := 0; i < 600 && err == nil; i++ {
		if _, gerr := snapshots.Get(ctx, y.vc, s.ID).Extract(); gophercloud.ResponseCodeIs(gerr, 404) {
			return took, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err == nil {
		err = fmt.Errorf("yardstick snapshot %s not deleted", s.ID)
	}
	return took, err
}

// HostAttachment is an attachment request without instance_uuid (gophercloud's
// CreateOpts always sends one, and Cinder refuses an empty one).
type HostAttachment map[string]any

func (h HostAttachment) ToAttachmentCreateMap() (map[string]any, error) {
	return map[string]any{"attachment": map[string]any(h)}, nil
}
