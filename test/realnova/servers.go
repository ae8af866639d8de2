package realnova

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"
)

// Server is a test "node": a real Nova server booted from a volume, with no network.
type Server struct {
	ID, Name, BootVolume string
	// Zone is the availability zone Nova placed the server in.
	Zone string
}

// BootServer creates a 1 GiB bootable volume and a server booted from it
// (flavor 1, "networks": "none") in Nova's default zone and waits until it is
// ACTIVE. On failure it deletes what it made.
func (s *Stack) BootServer(ctx context.Context, name string) (*Server, error) {
	return s.BootServerIn(ctx, name, "")
}

// BootServerIn is BootServer in zone ("": Nova's default), its boot volume in the
// Cinder zone of the same name.
func (s *Stack) BootServerIn(ctx context.Context, name, zone string) (*Server, error) {
	boot, err := volumes.Create(ctx, s.Volume, volumes.CreateOpts{Name: name + "-boot", Size: 1, AvailabilityZone: zone}, nil).Extract()
	if err != nil {
		return nil, fmt.Errorf("boot volume for %s: %w", name, err)
	}
	srv := &Server{Name: name, BootVolume: boot.ID}
	fail := func(err error) (*Server, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		return nil, errors.Join(err, s.DeleteServer(cctx, srv))
	}
	if err := s.waitVolume(ctx, boot.ID, "available"); err != nil {
		return fail(err)
	}
	// An empty volume is not bootable: nova-api would refuse it.
	if err := volumes.SetBootable(ctx, s.Volume, boot.ID, volumes.BootableOpts{Bootable: true}).ExtractErr(); err != nil {
		return fail(fmt.Errorf("make %s bootable: %w", boot.ID, err))
	}
	created, err := servers.Create(ctx, s.Compute, servers.CreateOpts{
		Name: name, FlavorRef: "1", Networks: "none", AvailabilityZone: zone,
		BlockDevice: []servers.BlockDevice{{
			BootIndex: 0, UUID: boot.ID, SourceType: servers.SourceVolume,
			DestinationType: servers.DestinationVolume, DeleteOnTermination: false,
		}},
	}, nil).Extract()
	if err != nil {
		return fail(fmt.Errorf("create server %s: %w", name, err))
	}
	srv.ID = created.ID
	if err := s.poll(ctx, "server "+name+" ACTIVE", func() (bool, error) {
		got, err := servers.Get(ctx, s.Compute, srv.ID).Extract()
		if err != nil {
			return false, err
		}
		if got.Status == "ERROR" {
			return false, fmt.Errorf("server %s went to ERROR: %v", name, got.Fault)
		}
		srv.Zone = got.AvailabilityZone
		return got.Status == "ACTIVE", nil
	}); err != nil {
		return fail(err)
	}
	return srv, nil
}

// DeleteServer deletes the server (Nova detaches its volumes), waits until it is
// gone, then deletes its boot volume.
func (s *Stack) DeleteServer(ctx context.Context, srv *Server) error {
	if srv.ID != "" {
		err := servers.Delete(ctx, s.Compute, srv.ID).ExtractErr()
		if err != nil && !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return fmt.Errorf("delete server %s: %w", srv.Name, err)
		}
		if err := s.poll(ctx, "server "+srv.Name+" gone", func() (bool, error) {
			_, err := servers.Get(ctx, s.Compute, srv.ID).Extract()
			if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
				return true, nil
			}
			return false, err
		}); err != nil {
			return err
		}
	}
	srv.ID = ""
	if srv.BootVolume == "" {
		return nil
	}
	if err := s.waitVolume(ctx, srv.BootVolume, "available"); err != nil {
		return err
	}
	if err := s.DeleteVolume(ctx, srv.BootVolume); err != nil {
		return err
	}
	srv.BootVolume = ""
	return nil
}

// ServerVolumes is Nova's list of the server's volumes (os-volume_attachments,
// the boot volume too); empty when the server is gone.
func (s *Stack) ServerVolumes(ctx context.Context, serverID string) (map[string]bool, error) {
	pages, err := volumeattach.List(s.Compute, serverID).AllPages(ctx)
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	list, err := volumeattach.ExtractVolumeAttachments(pages)
	if err != nil {
		return nil, err
	}
	vols := map[string]bool{}
	for _, a := range list {
		vols[a.VolumeID] = true
	}
	return vols, nil
}

// DeleteVolume deletes a volume and waits until it is gone.
func (s *Stack) DeleteVolume(ctx context.Context, id string) error {
	err := volumes.Delete(ctx, s.Volume, id, volumes.DeleteOpts{}).ExtractErr()
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete volume %s: %w", id, err)
	}
	return s.poll(ctx, "volume "+id+" gone", func() (bool, error) {
		_, err := volumes.Get(ctx, s.Volume, id).Extract()
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return true, nil
		}
		return false, err
	})
}

// waitVolume waits for a volume status; error* ends the wait.
func (s *Stack) waitVolume(ctx context.Context, id, status string) error {
	return s.poll(ctx, "volume "+id+" "+status, func() (bool, error) {
		v, err := volumes.Get(ctx, s.Volume, id).Extract()
		if err != nil {
			return false, err
		}
		if len(v.Status) >= 5 && v.Status[:5] == "error" {
			return false, fmt.Errorf("volume %s went to %s", id, v.Status)
		}
		return v.Status == status, nil
	})
}

// poll checks every 50 ms until done, an error, or two minutes (or ctx) pass.
func (s *Stack) poll(ctx context.Context, what string, check func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
