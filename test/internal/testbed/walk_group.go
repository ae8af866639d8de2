package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GroupWalk drives a volume group snapshot's life through the CSI API, on a Walk's
// node and names, and cleans up whatever it made.
type GroupWalk struct {
	*Walk
	Group csi.GroupControllerClient
	// groups are the group snapshots the walk made, for the clean-up.
	groups []string
}

// PerVolume is the VolumeGroupSnapshotClass parameter that accepts Cinder's generic
// group snapshot (members cut one after the other), as the NFS test bed gives.
var PerVolume = map[string]string{"consistency": "per-volume"}

// groupSnapshot cuts a group snapshot of volumes, as the snapshotter does.
func (g *GroupWalk) groupSnapshot(ctx context.Context, name string, params map[string]string, volumes ...string) (*csi.VolumeGroupSnapshot, error) {
	resp, err := g.Group.CreateVolumeGroupSnapshot(ctx, &csi.CreateVolumeGroupSnapshotRequest{
		Name: g.Prefix + "-" + name, SourceVolumeIds: volumes, Parameters: params})
	if err != nil {
		return nil, err
	}
	gs := resp.GetGroupSnapshot()
	if !slices.Contains(g.groups, gs.GetGroupSnapshotId()) {
		g.groups = append(g.groups, gs.GetGroupSnapshotId())
	}
	if !gs.GetReadyToUse() || len(gs.GetSnapshots()) != len(volumes) {
		return gs, fmt.Errorf("group snapshot %s: ready %t with %d members; want ready with %d", gs.GetGroupSnapshotId(), gs.GetReadyToUse(), len(gs.GetSnapshots()), len(volumes))
	}
	var got []string
	for _, s := range gs.GetSnapshots() {
		if s.GetGroupSnapshotId() != gs.GetGroupSnapshotId() || !s.GetReadyToUse() {
			return gs, fmt.Errorf("member %s: group %q, ready %t", s.GetSnapshotId(), s.GetGroupSnapshotId(), s.GetReadyToUse())
		}
		got = append(got, s.GetSourceVolumeId())
	}
	if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values(volumes))) {
		return gs, fmt.Errorf("members are of volumes %v, want %v", got, volumes)
	}
	return gs, nil
}

// refused expects code with message fragment want.
func refused(err error, code codes.Code, want string) error {
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), want) {
		return fmt.Errorf("got %v, want %s saying %q", err, code, want)
	}
	return nil
}

// RunGroup walks: two volumes, each with its own data → write-order group
// snapshots refused precisely (a generic type; a type whose specs the account
// cannot see) → one group snapshot (per-volume) → a member cannot
// be deleted alone → a second group snapshot of the same volumes → both members
// restored, each with its volume's data → the group snapshots deleted, the volumes
// kept → everything deleted. extra runs before the clean-up, for checks of the cloud.
func (g *GroupWalk) RunGroup(ctx context.Context, extra func(gs *csi.VolumeGroupSnapshot) error) (err error) {
	defer func() {
		if cerr := g.Cleanup(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	n1 := g.Nodes[0]
	var a, b string
	var gs *csi.VolumeGroupSnapshot
	data := map[string]string{}
	steps := []struct {
		name string
		f    func() error
	}{
		{"create two 1 GiB volumes, write each", func() (e error) {
			if a, e = g.create(ctx, "group-a", gib, nil); e != nil {
				return e
			}
			if b, e = g.create(ctx, "group-b", gib, nil); e != nil {
				return e
			}
			for _, v := range []string{a, b} {
				mnt, err := g.attach(ctx, v, n1)
				if err != nil {
					return err
				}
				data[v] = "data of volume " + v
				if err := os.WriteFile(filepath.Join(mnt, "data"), []byte(data[v]), 0o644); err != nil {
					return err
				}
				if err := g.detach(ctx, v, n1); err != nil {
					return err
				}
			}
			return nil
		}},
		{"write-order on the generic default type is refused", func() error {
			_, err := g.Group.CreateVolumeGroupSnapshot(ctx, &csi.CreateVolumeGroupSnapshotRequest{Name: g.Prefix + "-write-order", SourceVolumeIds: []string{a, b}})
			return refused(err, codes.FailedPrecondition, "consistency: per-volume")
		}},
		{"write-order on a type whose specs are hidden is refused", func() error {
			// csi-consistent sets consistent_group_snapshot_enabled, but Cinder shows
			// group specs to admins only, and the test user is none.
			_, err := g.Group.CreateVolumeGroupSnapshot(ctx, &csi.CreateVolumeGroupSnapshotRequest{Name: g.Prefix + "-consistent", SourceVolumeIds: []string{a, b},
				Parameters: map[string]string{"groupType": "csi-consistent"}})
			return refused(err, codes.FailedPrecondition, "group:access_group_types_specs")
		}},
		{"group snapshot of both (per-volume)", func() (e error) { gs, e = g.groupSnapshot(ctx, "group", PerVolume, a, b); return }},
		{"the same call again returns it", func() error {
			again, err := g.groupSnapshot(ctx, "group", PerVolume, a, b)
			if err == nil && again.GetGroupSnapshotId() != gs.GetGroupSnapshotId() {
				return fmt.Errorf("got group snapshot %s, want %s", again.GetGroupSnapshotId(), gs.GetGroupSnapshotId())
			}
			return err
		}},
		{"a member cannot be deleted alone", func() error {
			_, err := g.Ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: gs.GetSnapshots()[0].GetSnapshotId()})
			return refused(err, codes.InvalidArgument, "DeleteVolumeGroupSnapshot")
		}},
		{"a second group snapshot of the same volumes", func() error { _, e := g.groupSnapshot(ctx, "group-2", PerVolume, a, b); return e }},
		{"restore both members, read each volume's data", func() error {
			for _, s := range gs.GetSnapshots() {
				r, err := g.create(ctx, "restored-"+s.GetSourceVolumeId()[:8], gib, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
					Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: s.GetSnapshotId()}}})
				if err != nil {
					return err
				}
				mnt, err := g.attach(ctx, r, n1)
				if err != nil {
					return err
				}
				if err := checkFile(mnt, "data", data[s.GetSourceVolumeId()]); err != nil {
					return err
				}
				if err := g.detach(ctx, r, n1); err != nil {
					return err
				}
			}
			return nil
		}},
		{"checks of the cloud", func() error { return extra(gs) }},
		{"delete the group snapshots, keep the volumes", func() error {
			if err := g.deleteGroups(ctx); err != nil {
				return err
			}
			if _, err := g.Group.GetVolumeGroupSnapshot(ctx, &csi.GetVolumeGroupSnapshotRequest{GroupSnapshotId: gs.GetGroupSnapshotId()}); status.Code(err) != codes.NotFound {
				return fmt.Errorf("after the delete: %v, want NotFound", err)
			}
			for _, v := range []string{a, b} {
				mnt, err := g.attach(ctx, v, n1)
				if err != nil {
					return err
				}
				if err := checkFile(mnt, "data", data[v]); err != nil {
					return err
				}
				if err := g.detach(ctx, v, n1); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, s := range steps {
		if err := g.step(s.name, s.f); err != nil {
			return err
		}
	}
	return g.step("delete everything", func() error { return g.Cleanup(ctx) })
}

func (g *GroupWalk) deleteGroups(ctx context.Context) error {
	var errs []error
	for _, id := range g.groups {
		if _, err := g.Group.DeleteVolumeGroupSnapshot(ctx, &csi.DeleteVolumeGroupSnapshotRequest{GroupSnapshotId: id}); err != nil {
			errs = append(errs, fmt.Errorf("delete group snapshot %s: %w", id, err))
		}
	}
	if len(errs) == 0 {
		g.groups = nil
	}
	return errors.Join(errs...)
}

// Cleanup deletes the group snapshots, then what the Walk made.
func (g *GroupWalk) Cleanup(ctx context.Context) error {
	return errors.Join(g.deleteGroups(ctx), g.Walk.Cleanup(ctx))
}
