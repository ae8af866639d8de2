package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const gib = int64(1) << 30

// Walk drives one volume's life through the CSI API, as the Kubernetes sidecars and
// kubelet would, and cleans up whatever it made, also when a step fails.
type Walk struct {
	Ctrl csi.ControllerClient
	Node csi.NodeClient
	// Dir holds the staging and target paths.
	Dir string
	// Nodes are two node IDs: the volume moves from the first to the second.
	Nodes [2]string
	// Say reports progress, one line a step.
	Say func(format string, args ...any)
	// Prefix makes the names of this walk's volumes and snapshots unique.
	Prefix string

	volumes   []string
	snapshots []string
	Steps     []Step
}

// Step is one timed step of the walk.
type Step struct {
	Name     string
	Duration time.Duration
}

// Own makes Cleanup delete volumes and snapshots made outside the walk's steps.
func (w *Walk) Own(volumes, snapshots []string) *Walk {
	w.volumes = append(w.volumes, volumes...)
	w.snapshots = append(w.snapshots, snapshots...)
	return w
}

// NewWalk prepares a walk over conn.
func NewWalk(conn *grpc.ClientConn, dir string, nodes [2]string, say func(string, ...any)) *Walk {
	return &Walk{Ctrl: csi.NewControllerClient(conn), Node: csi.NewNodeClient(conn), Dir: dir, Nodes: nodes, Say: say,
		Prefix: fmt.Sprintf("walk-%d", time.Now().UnixNano()%1_000_000)}
}

// MountCap is a single-node-writer ext4 filesystem capability.
func MountCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

func (w *Walk) step(name string, f func() error) error {
	start := time.Now()
	err := f()
	d := time.Since(start)
	if err != nil {
		w.Say("FAIL %-44s %6.1fs  %v", name, d.Seconds(), err)
		return fmt.Errorf("%s: %w", name, err)
	}
	w.Steps = append(w.Steps, Step{name, d})
	w.Say("ok   %-44s %6.1fs", name, d.Seconds())
	return nil
}

func (w *Walk) create(ctx context.Context, name string, size int64, src *csi.VolumeContentSource) (string, error) {
	resp, err := w.Ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: w.Prefix + "-" + name, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{MountCap()}, VolumeContentSource: src,
		Parameters: map[string]string{"type": "standard", "csi.storage.k8s.io/pvc/name": name, "csi.storage.k8s.io/pvc/namespace": "walk"},
	})
	if err != nil {
		return "", err
	}
	id := resp.GetVolume().GetVolumeId()
	w.volumes = append(w.volumes, id)
	if got := resp.GetVolume().GetCapacityBytes(); got != size {
		return id, fmt.Errorf("volume %s has %d bytes, want %d", id, got, size)
	}
	return id, nil
}

// snapshot makes a snapshot (or backup) and waits, as the snapshotter does, by
// calling CreateSnapshot again until it is ready.
func (w *Walk) snapshot(ctx context.Context, name, volumeID string, backup bool) (string, error) {
	req := &csi.CreateSnapshotRequest{Name: w.Prefix + "-" + name, SourceVolumeId: volumeID}
	if backup {
		req.Parameters = map[string]string{"type": "backup"}
	}
	for {
		resp, err := w.Ctrl.CreateSnapshot(ctx, req)
		if err != nil {
			return "", err
		}
		id := resp.GetSnapshot().GetSnapshotId()
		if len(w.snapshots) == 0 || w.snapshots[len(w.snapshots)-1] != id {
			w.snapshots = append(w.snapshots, id)
		}
		if resp.GetSnapshot().GetReadyToUse() {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return id, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (w *Walk) paths(volumeID string) (string, string) {
	return filepath.Join(w.Dir, "staging", volumeID), filepath.Join(w.Dir, "target", volumeID, "mount")
}

// attach publishes, stages and mounts the volume on node; it returns the mount path.
func (w *Walk) attach(ctx context.Context, volumeID, node string) (string, error) {
	pub, err := w.Ctrl.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: volumeID, NodeId: node, VolumeCapability: MountCap()})
	if err != nil {
		return "", fmt.Errorf("publish to %s: %w", node, err)
	}
	staging, target := w.paths(volumeID)
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return "", err
	}
	if _, err := w.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: volumeID, StagingTargetPath: staging,
		VolumeCapability: MountCap(), PublishContext: pub.GetPublishContext()}); err != nil {
		return "", fmt.Errorf("stage: %w", err)
	}
	if _, err := w.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: volumeID, StagingTargetPath: staging,
		TargetPath: target, VolumeCapability: MountCap(), PublishContext: pub.GetPublishContext()}); err != nil {
		return "", fmt.Errorf("node publish: %w", err)
	}
	return target, nil
}

func (w *Walk) detach(ctx context.Context, volumeID, node string) error {
	staging, target := w.paths(volumeID)
	if _, err := w.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: volumeID, TargetPath: target}); err != nil {
		return fmt.Errorf("node unpublish: %w", err)
	}
	if _, err := w.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: volumeID, StagingTargetPath: staging}); err != nil {
		return fmt.Errorf("unstage: %w", err)
	}
	if _, err := w.Ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: volumeID, NodeId: node}); err != nil {
		return fmt.Errorf("unpublish from %s: %w", node, err)
	}
	return nil
}

func checkFile(dir, name, want string) error {
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if string(got) != want {
		return fmt.Errorf("%s holds %q, want %q", name, got, want)
	}
	return nil
}

func (w *Walk) stats(ctx context.Context, volumeID, path string, atLeast int64) error {
	s, err := w.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: volumeID, VolumePath: path})
	if err != nil {
		return err
	}
	if total := s.GetUsage()[0].GetTotal(); total < atLeast {
		return fmt.Errorf("filesystem has %d bytes, want at least %d", total, atLeast)
	}
	return nil
}

// Run walks: create → write → snapshot → read it back through the qcow2 overlay the
// NFS backend then makes → restore larger → clone → publish → stage → write →
// unstage → republish on the other node → read → online expand refused → unpublish →
// expand → backup → restore → read → delete everything.
func (w *Walk) Run(ctx context.Context) (err error) {
	defer func() {
		if cerr := w.Cleanup(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	n1, n2 := w.Nodes[0], w.Nodes[1]
	// The steps name the hosts; the node IDs of the Cinder path carry more (node_id.go).
	h1, _, _ := strings.Cut(n1, ";")
	h2, _, _ := strings.Cut(n2, ";")
	var src, snap, restored, clone, backup, fromBackup, mnt string
	steps := []struct {
		name string
		f    func() error
	}{
		{"create a 1 GiB volume", func() (e error) { src, e = w.create(ctx, "source", gib, nil); return }},
		{"write data into it on " + h1, func() error {
			if mnt, err = w.attach(ctx, src, n1); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(mnt, "hello.txt"), []byte("hello from "+h1), 0o644); err != nil {
				return err
			}
			return w.detach(ctx, src, n1)
		}},
		{"snapshot it", func() (e error) { snap, e = w.snapshot(ctx, "snap", src, false); return }},
		{"read the source again (now a qcow2 overlay)", func() error {
			if mnt, err = w.attach(ctx, src, n1); err != nil {
				return err
			}
			if err := checkFile(mnt, "hello.txt", "hello from "+h1); err != nil {
				return err
			}
			return w.detach(ctx, src, n1)
		}},
		{"restore the snapshot into 2 GiB", func() (e error) {
			restored, e = w.create(ctx, "restored", 2*gib, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
				Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap}}})
			return
		}},
		{"clone the restored volume", func() (e error) {
			clone, e = w.create(ctx, "clone", 2*gib, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
				Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: restored}}})
			return
		}},
		{"stage the clone on " + h1 + ", read, write", func() error {
			if mnt, err = w.attach(ctx, clone, n1); err != nil {
				return err
			}
			if err := checkFile(mnt, "hello.txt", "hello from "+h1); err != nil {
				return err
			}
			if err := w.stats(ctx, clone, mnt, gib+gib/2); err != nil {
				return fmt.Errorf("the filesystem did not grow with the volume: %w", err)
			}
			return os.WriteFile(filepath.Join(mnt, "second.txt"), []byte("written on "+h1), 0o644)
		}},
		{"unstage, republish on " + h2 + ", read", func() error {
			if err := w.detach(ctx, clone, n1); err != nil {
				return err
			}
			if mnt, err = w.attach(ctx, clone, n2); err != nil {
				return err
			}
			return errors.Join(checkFile(mnt, "hello.txt", "hello from "+h1), checkFile(mnt, "second.txt", "written on "+h1))
		}},
		{"online expansion is refused precisely", func() error {
			_, err := w.Ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: clone,
				CapacityRange: &csi.CapacityRange{RequiredBytes: 3 * gib}})
			if status.Code(err) != codes.FailedPrecondition {
				return fmt.Errorf("got %v, want FailedPrecondition", err)
			}
			return nil
		}},
		{"unpublish, expand to 3 GiB", func() error {
			if err := w.detach(ctx, clone, n2); err != nil {
				return err
			}
			resp, err := w.Ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: clone,
				CapacityRange: &csi.CapacityRange{RequiredBytes: 3 * gib}})
			if err != nil {
				return err
			}
			if resp.GetCapacityBytes() != 3*gib {
				return fmt.Errorf("expanded to %d bytes", resp.GetCapacityBytes())
			}
			return nil
		}},
		{"back it up (backup VolumeSnapshotClass)", func() (e error) { backup, e = w.snapshot(ctx, "backup", clone, true); return }},
		{"restore the backup, read the data", func() error {
			var err error
			fromBackup, err = w.create(ctx, "from-backup", 3*gib, &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
				Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: backup}}})
			if err != nil {
				return err
			}
			if mnt, err = w.attach(ctx, fromBackup, n1); err != nil {
				return err
			}
			if err := errors.Join(checkFile(mnt, "hello.txt", "hello from "+h1), checkFile(mnt, "second.txt", "written on "+h1)); err != nil {
				return err
			}
			if err := w.stats(ctx, fromBackup, mnt, 2*gib+gib/2); err != nil {
				return err
			}
			return w.detach(ctx, fromBackup, n1)
		}},
	}
	for _, s := range steps {
		if err := w.step(s.name, s.f); err != nil {
			return err
		}
	}
	return w.step("delete everything", func() error { return w.Cleanup(ctx) })
}

// Cleanup unpublishes, unstages and deletes whatever the walk made, newest first.
func (w *Walk) Cleanup(ctx context.Context) error {
	var errs []error
	for i := len(w.volumes) - 1; i >= 0; i-- {
		id := w.volumes[i]
		staging, target := w.paths(id)
		_, _ = w.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: target})
		_, _ = w.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging})
		for _, n := range w.Nodes {
			_, _ = w.Ctrl.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: n})
		}
	}
	// Cinder deletes asynchronously and refuses to delete a volume while it has
	// snapshots (also ones being deleted), so go round until all are gone.
	deadline := time.Now().Add(3 * time.Minute)
	for len(w.volumes)+len(w.snapshots) > 0 {
		errs = nil
		var keptVols, keptSnaps []string
		for i := len(w.volumes) - 1; i >= 0; i-- {
			if _, err := w.Ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: w.volumes[i]}); err != nil {
				keptVols = append([]string{w.volumes[i]}, keptVols...)
				errs = append(errs, fmt.Errorf("delete volume %s: %w", w.volumes[i], err))
			}
		}
		for _, id := range w.snapshots {
			if _, err := w.Ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: id}); err != nil {
				keptSnaps = append(keptSnaps, id)
				errs = append(errs, fmt.Errorf("delete snapshot %s: %w", id, err))
			}
		}
		w.volumes, w.snapshots = keptVols, keptSnaps
		if len(errs) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	w.volumes, w.snapshots = nil, nil
	return nil
}
