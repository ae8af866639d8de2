package driver

import (
	"context"

	"k8s.io/klog/v2"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// nameFinder is what finding a volume by name needs of a cloud: the
// controller's client, or the node plugin's for inline ephemeral volumes.
type nameFinder interface {
	FindVolumesByName(ctx context.Context, name string) ([]cinder.Volume, error)
	DeleteVolume(ctx context.Context, id string) error
}

// findByName returns the usable volume an earlier attempt made under name, nil
// when there is none. refuse rejects a volume of the name that this request did
// not make (another size, not tagged as ours). A failed volume an earlier attempt
// left is deleted, so is a duplicate an interrupted create made (the survivor is
// the one cinder.Namesakes picks, whoever meets the name first); a volume still
// being made, or in any other state, is Unavailable. what names the kind of
// volume in logs and errors.
func findByName(ctx context.Context, cloud nameFinder, name, what string, refuse func(*cinder.Volume) error) (*cinder.Volume, error) {
	vols, err := cloud.FindVolumesByName(ctx, name)
	if err != nil {
		return nil, toStatus(err, "looking up volumes named %q", name)
	}
	for i := range vols {
		if err := refuse(&vols[i]); err != nil {
			return nil, err
		}
	}
	for i := range vols {
		if v := &vols[i]; v.Failed() {
			klog.InfoS("Deleting a failed volume left by an earlier attempt", "kind", what, "volumeID", v.ID, "status", v.Status)
			if err := cloud.DeleteVolume(ctx, v.ID); err != nil {
				return nil, toStatus(err, "deleting failed %s %s named %q", what, v.ID, name)
			}
		}
	}
	v, duplicates := cinder.Namesakes(vols)
	for _, dup := range duplicates {
		klog.InfoS("Deleting a duplicate of the same name, made by an interrupted create", "kind", what, "volumeID", dup.ID, "name", name, "kept", v.ID)
		if err := cloud.DeleteVolume(ctx, dup.ID); err != nil {
			return nil, toStatus(err, "deleting %s %s, a duplicate of %s named %q", what, dup.ID, v.ID, name)
		}
	}
	switch {
	case v == nil:
		return nil, nil
	case v.Usable():
		return v, nil
	case v.Pending():
		return nil, unavailable("%s %s named %q is still %q; retry shortly", what, v.ID, name, v.Status)
	default:
		return nil, unavailable("%s %s named %q is %q; retry shortly", what, v.ID, name, v.Status)
	}
}
