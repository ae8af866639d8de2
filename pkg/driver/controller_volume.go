package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// CreateVolume is idempotent by name: under a per-name lock it reuses a volume of the
// same name and shape, refuses one of another shape, and otherwise creates one.
func (d *Driver) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	a, err := d.validateCreateVolume(req)
	if err != nil {
		return nil, err
	}
	unlock, err := d.locks.tryLock("create/"+a.name, "volume name "+a.name)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := d.resolveSource(ctx, &a); err != nil {
		return nil, err
	}
	vol, err := d.findVolume(ctx, a)
	if err != nil {
		return nil, err
	}
	if vol == nil {
		if len(a.sourceNodes) > 0 && !d.opts.SnapshotInUse {
			return nil, failedPrecondition("source volume %s is attached to %v and this cloud's backend cannot clone attached volumes (--snapshot-in-use=false): the clone is made once it is detached",
				a.sourceVolID, a.sourceNodes)
		}
		vol, err = d.deps.Cloud.CreateVolume(ctx, d.createOpts(a))
		if err != nil {
			return nil, createFailed(err, a)
		}
		klog.InfoS("Created volume", "name", a.name, "volumeID", vol.ID, "sizeGiB", vol.SizeGiB, "type", vol.VolumeType, "zone", vol.AvailabilityZone)
	}
	if vol.SizeGiB < a.sizeGiB {
		if vol, err = d.growNewVolume(ctx, vol, a.sizeGiB); err != nil {
			return nil, err
		}
	}
	if anyMultiNode(a.caps) && !vol.Multiattach {
		if derr := d.deps.Cloud.DeleteVolume(ctx, vol.ID); derr != nil {
			klog.ErrorS(derr, "Could not delete a volume created with a non-multiattach type", "volumeID", vol.ID)
		}
		return nil, invalid("a multi-node access mode needs a multiattach volume type, and %q is not one; set the StorageClass parameter %q to a type with multiattach=\"<is> True\"", vol.VolumeType, paramType)
	}
	return &csi.CreateVolumeResponse{Volume: d.csiVolume(vol, req.GetVolumeContentSource(), a.params)}, nil
}

// createFailed is the status of a failed create. A source in a zone the topology
// does not allow, which Cinder refuses to copy across zones, is ResourceExhausted:
// the volume cannot be made where it is wanted (CSI's answer for topology).
func createFailed(err error, a createVolumeArgs) error {
	if a.sourceZone != "" && a.zone != a.sourceZone && errors.Is(err, cinder.ErrInvalidInput) {
		return exhausted("the source of volume %q is in availability zone %q, which the topology does not allow (%v), and Cinder makes a volume from a snapshot or volume only in the source's zone (%v): allow zone %q for this claim (StorageClass allowedTopologies, or a node there)",
			a.name, a.sourceZone, a.zones.requisite, err, a.sourceZone)
	}
	return toStatus(err, "creating volume %q (%d GiB, type %q)", a.name, a.sizeGiB, a.params.volumeType)
}

// resolveSource checks that the content source exists (a snapshot ID may name a Cinder
// snapshot or backup) and fits in the requested size.
func (d *Driver) resolveSource(ctx context.Context, a *createVolumeArgs) error {
	var srcGiB int
	var what string
	switch {
	case a.snapshotID != "":
		s, err := d.getSnapshotOrBackup(ctx, a.snapshotID)
		if err != nil {
			return err
		}
		if !s.Ready() {
			return unavailable("snapshot %s is %q, not yet available; retry when it is ready", s.ID, s.Status)
		}
		srcGiB, what = s.SizeGiB, "snapshot "+s.ID
		a.sourceIsBackup = s.IsBackup
		if d.zoneTopology() && !a.zoneExplicit && !s.IsBackup {
			if a.sourceZone, err = d.newVolumeZones().of(ctx, s.VolumeID); err != nil {
				return err
			}
		}
	case a.sourceVolID != "":
		v, err := d.deps.Cloud.GetVolume(ctx, a.sourceVolID)
		if err != nil {
			return toStatus(err, "looking up source volume %s", a.sourceVolID)
		}
		srcGiB, what = v.SizeGiB, "volume "+v.ID
		if len(v.Attachments) > 0 {
			a.sourceNodes = v.Nodes()
		}
		if d.zoneTopology() && !a.zoneExplicit {
			a.sourceZone = v.AvailabilityZone
		}
	default:
		return nil
	}
	if a.sourceZone != "" && a.zones.allows(a.sourceZone) {
		// Where Cinder makes it (cloned_volume_same_az), if the topology allows that
		// zone; else the requested zone, which Cinder may refuse (createFailed).
		a.zone = a.sourceZone
	}
	a.sourceGiB = srcGiB
	if a.sizeGiB < srcGiB {
		if a.explicitReq {
			return outOfRange("requested %d GiB is smaller than source %s (%d GiB); request at least %d GiB", a.sizeGiB, what, srcGiB, srcGiB)
		}
		a.sizeGiB = srcGiB
	}
	return nil
}

// findVolume returns an existing volume created for this name, nil if there is none
// (findByName); one of the name that does not fit the request is AlreadyExists.
func (d *Driver) findVolume(ctx context.Context, a createVolumeArgs) (*cinder.Volume, error) {
	return findByName(ctx, d.deps.Cloud, a.name, "volume", func(v *cinder.Volume) error {
		if mismatch := volumeMismatch(v, a); mismatch != "" {
			return alreadyExists("volume %s named %q already exists with %s; delete it or use another name", v.ID, a.name, mismatch)
		}
		return nil
	})
}

// volumeMismatch says how an existing volume differs from the request, "" if it fits.
func volumeMismatch(v *cinder.Volume, a createVolumeArgs) string {
	switch {
	case v.SizeGiB != a.sizeGiB && v.SizeGiB != a.sourceGiB:
		return fmt.Sprintf("size %d GiB, not %d GiB", v.SizeGiB, a.sizeGiB)
	case a.params.volumeType != "" && v.VolumeType != a.params.volumeType:
		return fmt.Sprintf("type %q, not %q", v.VolumeType, a.params.volumeType)
	case a.zone != "" && v.AvailabilityZone != a.zone:
		return fmt.Sprintf("availability zone %q, not %q", v.AvailabilityZone, a.zone)
	case v.SnapshotID != a.snapshotID && v.BackupID != a.snapshotID:
		return fmt.Sprintf("snapshot source %q, not %q", v.SnapshotID+v.BackupID, a.snapshotID)
	case v.SourceVolID != a.sourceVolID:
		return fmt.Sprintf("source volume %q, not %q", v.SourceVolID, a.sourceVolID)
	}
	return ""
}

// growNewVolume extends a volume just made from a source to the requested size. A
// volume that cannot be grown is deleted, so that no half-made volume is left.
func (d *Driver) growNewVolume(ctx context.Context, vol *cinder.Volume, sizeGiB int) (*cinder.Volume, error) {
	grown, err := d.deps.Cloud.ExpandVolume(ctx, vol, sizeGiB)
	if err != nil {
		if derr := d.deps.Cloud.DeleteVolume(context.WithoutCancel(ctx), vol.ID); derr != nil {
			klog.ErrorS(derr, "Could not delete a volume that could not be grown", "volumeID", vol.ID)
		}
		return nil, toStatus(err, "growing new volume %s from %d to %d GiB", vol.ID, vol.SizeGiB, sizeGiB)
	}
	klog.InfoS("Grew new volume to the requested size", "volumeID", vol.ID, "fromGiB", vol.SizeGiB, "sizeGiB", grown.SizeGiB)
	return grown, nil
}

func (d *Driver) createOpts(a createVolumeArgs) cinder.CreateVolumeOpts {
	md := d.objectMetadata(a.name, a.params.metadata)
	size := a.sizeGiB
	if a.sourceGiB > 0 && a.sourceGiB < size {
		// Created at the source's size and grown afterwards (growNewVolume): some
		// backends, Cinder's NFS driver among them, record a larger size for a volume
		// made from a snapshot or clone but leave its data at the source's size, and
		// then refuse to attach it. An extension works everywhere.
		size = a.sourceGiB
	}
	o := cinder.CreateVolumeOpts{
		Name: a.name, SizeGiB: size, VolumeType: a.params.volumeType,
		AvailabilityZone: a.zone, SourceVolID: a.sourceVolID, Metadata: md,
	}
	if a.snapshotID != "" {
		if a.sourceIsBackup {
			o.BackupID = a.snapshotID
		} else {
			o.SnapshotID = a.snapshotID
		}
	}
	return o
}

func (d *Driver) csiVolume(v *cinder.Volume, src *csi.VolumeContentSource, p volumeParams) *csi.Volume {
	out := &csi.Volume{VolumeId: v.ID, CapacityBytes: int64(v.SizeGiB) * gib, ContentSource: src}
	if len(p.mkfsOptions) > 0 {
		out.VolumeContext = map[string]string{ctxMkfsOptions: strings.Join(p.mkfsOptions, " ")}
	}
	if d.zoneTopology() {
		out.AccessibleTopology = zoneTopologies(v.AvailabilityZone)
	}
	return out
}

// DeleteVolume deletes a volume; a missing volume is success, an attached one or one
// with snapshots is FailedPrecondition.
func (d *Driver) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if err := checkID("volume_id", id); err != nil {
		if errors.Is(err, errNotFound) {
			return &csi.DeleteVolumeResponse{}, nil
		}
		return nil, err
	}
	unlock, err := d.lockVolume(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := d.deps.Cloud.DeleteVolume(ctx, id); err != nil {
		if errors.Is(err, cinder.ErrNotFound) {
			return &csi.DeleteVolumeResponse{}, nil
		}
		return nil, toStatus(err, "deleting volume %s", id)
	}
	klog.InfoS("Deleted volume", "volumeID", id)
	return &csi.DeleteVolumeResponse{}, nil
}
