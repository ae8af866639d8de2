package cinder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"k8s.io/klog/v2"
)

// CreateVolume implements Cloud.
func (c *Client) CreateVolume(ctx context.Context, opts CreateVolumeOpts) (*Volume, error) {
	mv := mvCinderBase
	if opts.BackupID != "" {
		mv = mvVolumeFromBackup
	}
	id, err := c.createOnce(ctx, "volume "+opts.Name, func(ctx context.Context) (string, error) {
		created, err := volumes.Create(ctx, c.cinder(mv), volumes.CreateOpts{
			Name:             opts.Name,
			Size:             opts.SizeGiB,
			VolumeType:       opts.VolumeType,
			AvailabilityZone: opts.AvailabilityZone,
			SnapshotID:       opts.SnapshotID,
			SourceVolID:      opts.SourceVolID,
			BackupID:         opts.BackupID,
			Metadata:         opts.Metadata,
		}, nil).Extract()
		if err != nil {
			return "", mapError(err)
		}
		return created.ID, nil
	}, func(ctx context.Context) (string, error) {
		found, err := c.FindVolumesByName(ctx, opts.Name)
		if err != nil {
			return "", err
		}
		return newest(found, func(v Volume) time.Time { return v.CreatedAt }, func(v Volume) string { return v.ID }), nil
	})
	if err != nil {
		return nil, fmt.Errorf("create volume %q: %w", opts.Name, err)
	}
	klog.V(4).InfoS("Cinder accepted the volume, waiting until it is available", "volumeID", id, "name", opts.Name)
	vol, err := c.waitCreated(ctx, createKind(opts), true, id, opts.Name)
	if err != nil {
		return nil, err
	}
	if vol, err = c.settleVolume(ctx, vol); err != nil {
		return nil, fmt.Errorf("create volume %q: %w", opts.Name, err)
	}
	klog.V(2).InfoS("Volume available", "volumeID", vol.ID, "name", opts.Name, "sizeGiB", vol.SizeGiB)
	return vol, nil
}

// createKind is the wait kind of a create: how long one takes depends on the
// volume type (its backend) and on what the volume is made from.
func createKind(opts CreateVolumeOpts) string {
	from := "blank"
	switch {
	case opts.SnapshotID != "":
		from = "snapshot"
	case opts.SourceVolID != "":
		from = "volume"
	case opts.BackupID != "":
		from = "backup"
	}
	return kindCreateVolume + "/" + opts.VolumeType + "/" + from
}

// waitCreated waits until the new volume id is available; kind is the wait's kind,
// afterRequest false for a volume not just requested (a plain wait). One that ends in
// an error state is deleted (a retry must not find it by name); one still creating
// when ctx ends is left for the caller's retry, which finds it by name and waits again.
func (c *Client) waitCreated(ctx context.Context, kind string, afterRequest bool, id, name string) (*Volume, error) {
	var vol *Volume
	err := c.poll(ctx, kind, afterRequest, "volume "+id+" to become available", func(ctx context.Context) (bool, string, error) {
		v, err := c.GetVolume(ctx, id)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return true, "", fmt.Errorf("%w: volume %s vanished while it was being created", ErrBackend, id)
			}
			return pollError(err)
		}
		vol = v
		return v.Status == StatusAvailable || isErrorStatus(v.Status), "status " + v.Status, nil
	})
	if err != nil {
		return nil, fmt.Errorf("create volume %q: %w", name, err)
	}
	if vol.Status != StatusAvailable {
		c.deleteFailedVolume(ctx, id)
		return nil, fmt.Errorf("%w: volume %s (%q) ended in status %q and was deleted; Cinder's user messages for it (openstack volume message list) tell why",
			ErrBackend, id, name, vol.Status)
	}
	return vol, nil
}

// deleteFailedVolume removes a volume that ended in an error state, so that a
// retry does not find (and return) the broken one by name. Failing is logged only:
// the create already failed and that is what the caller must hear.
func (c *Client) deleteFailedVolume(ctx context.Context, id string) {
	if err := c.DeleteVolume(ctx, id); err != nil {
		klog.ErrorS(err, "Could not delete a volume that failed to create; delete it by hand", "volumeID", id)
		return
	}
	klog.InfoS("Deleted a volume that failed to create", "volumeID", id)
	c.observer().Repair(RepairFailedVolume)
}

// GetVolume implements Cloud.
func (c *Client) GetVolume(ctx context.Context, id string) (*Volume, error) {
	v, err := volumes.Get(ctx, c.cinder(mvVolumeRead), id).Extract()
	if err != nil {
		return nil, fmt.Errorf("get volume %s: %w", id, mapError(err))
	}
	return volumeFrom(v), nil
}

// FindVolumesByName implements Cloud. Cinder's name filter is exact, but the
// result is checked again so that a cloud with a looser filter cannot hand back
// a neighbour.
func (c *Client) FindVolumesByName(ctx context.Context, name string) ([]Volume, error) {
	pages, err := volumes.List(c.cinder(mvVolumeRead), volumes.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list volumes named %q: %w", name, mapError(err))
	}
	all, err := volumes.ExtractVolumes(pages)
	if err != nil {
		return nil, fmt.Errorf("list volumes named %q: %w", name, err)
	}
	var out []Volume
	for i := range all {
		if all[i].Name == name {
			out = append(out, *volumeFrom(&all[i]))
		}
	}
	return out, nil
}

// FindVolumesByMetadata implements Cloud with Cinder's metadata filter, which
// takes a Python dict literal: a quote or backslash in md could not be sent
// faithfully and is refused. Matches are checked again, as for names.
func (c *Client) FindVolumesByMetadata(ctx context.Context, md map[string]string) ([]Volume, error) {
	for k, v := range md {
		if strings.ContainsAny(k+v, `'"\`) {
			return nil, fmt.Errorf("%w: metadata filter %q=%q: quotes and backslashes cannot be filtered on", ErrInvalidInput, k, v)
		}
	}
	pages, err := volumes.List(c.cinder(mvVolumeRead), volumes.ListOpts{Metadata: md}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list volumes with metadata %v: %w", md, mapError(err))
	}
	all, err := volumes.ExtractVolumes(pages)
	if err != nil {
		return nil, fmt.Errorf("list volumes with metadata %v: %w", md, err)
	}
	var out []Volume
	for i := range all {
		if HasMetadata(all[i].Metadata, md) {
			out = append(out, *volumeFrom(&all[i]))
		}
	}
	return out, nil
}

// HasMetadata reports whether have holds every key of want with its value.
func HasMetadata(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ListVolumes implements Cloud.
func (c *Client) ListVolumes(ctx context.Context, opts ListOpts) ([]Volume, string, error) {
	pager := volumes.List(c.cinder(mvVolumeRead), volumes.ListOpts{Marker: opts.Marker, Limit: opts.Limit})
	vols, next, err := firstPage(ctx, pager, opts.Limit, volumes.ExtractVolumes, func(v volumes.Volume) string { return v.ID })
	if err != nil {
		return nil, "", fmt.Errorf("list volumes: %w", mapError(err))
	}
	out := make([]Volume, len(vols))
	for i := range vols {
		out[i] = *volumeFrom(&vols[i])
	}
	return out, next, nil
}

// DeleteVolume implements Cloud.
func (c *Client) DeleteVolume(ctx context.Context, id string) error {
	return c.deleteWhole(ctx, kindDeleteVolume, "volume "+id, func(ctx context.Context) (string, error) {
		v, err := c.GetVolume(ctx, id)
		if err != nil {
			return "", err
		}
		return v.Status, nil
	}, func(ctx context.Context) error {
		err := mapError(volumes.Delete(ctx, c.cinder(mvCinderBase), id, volumes.DeleteOpts{}).ExtractErr())
		if errors.Is(err, ErrInvalidState) {
			// Perhaps held by the temporary group of an unfinished group snapshot.
			if released, rerr := c.releaseFromTemporaryGroup(ctx, id); rerr == nil && released {
				err = mapError(volumes.Delete(ctx, c.cinder(mvCinderBase), id, volumes.DeleteOpts{}).ExtractErr())
			}
		}
		if err != nil {
			return fmt.Errorf("delete volume %s: %w", id, err)
		}
		return nil
	})
}

func volumeFrom(v *volumes.Volume) *Volume {
	out := &Volume{
		ID:               v.ID,
		Name:             v.Name,
		Status:           v.Status,
		SizeGiB:          v.Size,
		VolumeType:       v.VolumeType,
		AvailabilityZone: v.AvailabilityZone,
		Multiattach:      v.Multiattach,
		SnapshotID:       v.SnapshotID,
		SourceVolID:      v.SourceVolID,
		Metadata:         v.Metadata,
		CreatedAt:        v.CreatedAt,
		UpdatedAt:        v.UpdatedAt,
	}
	if v.BackupID != nil {
		out.BackupID = *v.BackupID
	}
	for _, a := range v.Attachments {
		out.Attachments = append(out.Attachments, VolumeAttachment{
			AttachmentID: a.AttachmentID,
			ServerID:     a.ServerID,
			HostName:     attachedHost(a.ServerID, a.HostName, a.Device),
			Device:       a.Device,
		})
	}
	return out
}

// csiMountpoint prefixes the connector mountpoint the Cinder attacher sends, followed
// by the node ID. Cinder shows an attachment's host_name to admins only, but its
// device (the mountpoint) to every user, so this is how a project member's driver
// recognises its own nodes' attachments.
const csiMountpoint = "/csi-node/"

// attachedHost returns the host of an attachment made without Nova: host_name when
// Cinder shows it, else the node named in the mountpoint the driver sent.
func attachedHost(serverID, hostName, device string) string {
	if serverID != "" || hostName != "" {
		return hostName
	}
	if strings.HasPrefix(device, csiMountpoint) {
		return strings.TrimPrefix(device, csiMountpoint)
	}
	return ""
}
