package cinder

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"k8s.io/klog/v2"
)

// ExpandVolume implements Cloud. v is the caller's fresh read of the volume (the
// driver has just read it to decide, so it is not read again here). A volume
// already at least sizeGiB is returned as is, so a retried expansion is a no-op.
func (c *Client) ExpandVolume(ctx context.Context, v *Volume, sizeGiB int) (*Volume, error) {
	id := v.ID
	if v.Status == StatusErrorExtending {
		// An earlier extension failed and nobody reset the volume: Cinder refuses to
		// extend it again until it is available or in-use. This is the retry that
		// Kubernetes' RecoverVolumeExpansionFailure makes, maybe to a smaller size.
		was := StatusAvailable
		if len(v.Attachments) > 0 {
			was = StatusInUse
		}
		if recovery, ok := c.resetFailedExtend(ctx, v, was); !ok {
			return nil, fmt.Errorf("%w: volume %s is %q after a failed extension%s", ErrInvalidState, id, v.Status, recovery)
		}
		var err error
		if v, err = c.GetVolume(ctx, id); err != nil {
			return nil, fmt.Errorf("expand volume: %w", err)
		}
	}
	if v.SizeGiB >= sizeGiB && v.Status != StatusExtending {
		return v, nil
	}
	if v.Status != StatusExtending {
		mv := mvCinderBase
		if v.Status == StatusInUse {
			mv = mvOnlineExtend
		}
		err := volumes.ExtendSize(ctx, c.cinder(mv), id, volumes.ExtendSizeOpts{NewSize: sizeGiB}).ExtractErr()
		if err != nil {
			return nil, fmt.Errorf("expand volume %s (%s) from %d to %d GiB: %w", id, v.Status, v.SizeGiB, sizeGiB, mapError(err))
		}
		klog.V(4).InfoS("Cinder accepted the extension", "volumeID", id, "fromGiB", v.SizeGiB, "toGiB", sizeGiB, "online", v.Status == StatusInUse)
	}

	var last *Volume
	err := c.waitAfterRequest(ctx, kindExpandVolume, fmt.Sprintf("volume %s to reach %d GiB", id, sizeGiB), func(ctx context.Context) (bool, string, error) {
		v, err := c.GetVolume(ctx, id)
		if err != nil {
			return pollError(err)
		}
		last = v
		state := fmt.Sprintf("status %s, %d GiB", v.Status, v.SizeGiB)
		// Cinder sets "extending" before it answers, so any other status means the
		// backend is done, one way or the other.
		return v.Status != StatusExtending, state, nil
	})
	if err != nil {
		return nil, fmt.Errorf("expand volume: %w", err)
	}
	if last.SizeGiB < sizeGiB {
		// error_extending, or a status reverted by a backend that refused (some only
		// extend detached volumes): the user messages say which.
		recovery := ""
		if last.Status == StatusErrorExtending {
			recovery = c.recoverFromFailedExtend(ctx, last, v.Status)
		}
		return nil, fmt.Errorf("%w: volume %s did not grow to %d GiB: it is %d GiB in status %q%s; Cinder's user messages for it (openstack volume message list) tell why",
			ErrBackend, id, sizeGiB, last.SizeGiB, last.Status, recovery)
	}
	klog.V(2).InfoS("Volume expanded", "volumeID", id, "sizeGiB", last.SizeGiB)
	return last, nil
}

// RetypeVolume implements Cloud. Migration "on-demand" lets Cinder move the data
// when the new type lives on another backend; without it such a retype fails.
func (c *Client) RetypeVolume(ctx context.Context, id, volumeType string) (*Volume, error) {
	v, err := c.GetVolume(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("retype volume: %w", err)
	}
	if v.VolumeType == volumeType && v.Status != StatusRetyping {
		return v, nil
	}
	if v.Status != StatusRetyping {
		err := volumes.ChangeType(ctx, c.cinder(mvCinderBase), id, volumes.ChangeTypeOpts{
			NewType:         volumeType,
			MigrationPolicy: volumes.MigrationPolicyOnDemand,
		}).ExtractErr()
		if err != nil {
			return nil, fmt.Errorf("retype volume %s from %q to %q: %w", id, v.VolumeType, volumeType, mapError(err))
		}
		klog.V(4).InfoS("Cinder accepted the retype", "volumeID", id, "from", v.VolumeType, "to", volumeType)
	}

	var last *Volume
	err = c.waitAfterRequest(ctx, kindRetypeVolume, fmt.Sprintf("volume %s to become type %q", id, volumeType), func(ctx context.Context) (bool, string, error) {
		v, err := c.GetVolume(ctx, id)
		if err != nil {
			return pollError(err)
		}
		last = v
		return v.Status != StatusRetyping, fmt.Sprintf("status %s, type %q", v.Status, v.VolumeType), nil
	})
	if err != nil {
		return nil, fmt.Errorf("retype volume: %w", err)
	}
	if last.VolumeType != volumeType {
		return nil, fmt.Errorf("%w: volume %s is still type %q (status %q) after the retype to %q; Cinder's user messages for it (openstack volume message list) tell why",
			ErrBackend, id, last.VolumeType, last.Status, volumeType)
	}
	klog.V(2).InfoS("Volume retyped", "volumeID", id, "volumeType", volumeType)
	return last, nil
}

// recoverFromFailedExtend puts a volume that a failed extension left in
// error_extending back into the status it had, at its old size, so that it stays
// usable: the data is untouched when a backend refuses to extend. Resetting a status
// needs an admin role; without it the message says what an operator must run.
func (c *Client) recoverFromFailedExtend(ctx context.Context, v *Volume, previous string) string {
	if previous != StatusInUse {
		previous = StatusAvailable
	}
	recovery, _ := c.resetFailedExtend(ctx, v, previous)
	return recovery
}

// resetFailedExtend resets a volume left in error_extending to previous (available
// or in-use) and says what it did, for the caller's message; ok reports the reset.
func (c *Client) resetFailedExtend(ctx context.Context, v *Volume, previous string) (string, bool) {
	opts := volumes.ResetStatusOpts{Status: previous, AttachStatus: "detached"}
	if previous == StatusInUse {
		opts.AttachStatus = "attached"
	}
	if err := volumes.ResetStatus(ctx, c.cinder(mvCinderBase), v.ID, opts).ExtractErr(); err != nil {
		klog.ErrorS(err, "Could not reset a volume left in error_extending", "volumeID", v.ID, "status", previous)
		return fmt.Sprintf(" (resetting it to %q failed: %v; an admin can run: openstack volume set --state %s %s)", previous, mapError(err), previous, v.ID), false
	}
	klog.InfoS("Reset a volume left in error_extending", "volumeID", v.ID, "status", previous, "sizeGiB", v.SizeGiB)
	c.observer().Repair(RepairErrorExtending)
	return fmt.Sprintf(" (the driver reset it to %q at %d GiB, its data untouched)", previous, v.SizeGiB), true
}
