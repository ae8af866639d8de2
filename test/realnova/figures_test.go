package realnova

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/volumeattach"

	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// TestNovaFigures measures, on one server, what attach and detach cost through the
// driver next to Nova's own: the latency of ControllerPublish/Unpublish against a
// bare POST/DELETE os-volume_attachments followed by 50 ms Cinder polls, and the
// OpenStack API calls of each controller operation. It prints "nova-figures:" lines
// and fails only if an operation fails: timings are reported, never asserted.
func TestNovaFigures(t *testing.T) {
	b := newBed(t)
	srv := b.server(t, "figures")
	n := b.node(t, srv)
	ctrl := csi.NewControllerClient(n.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const rounds = 3

	b.calls.Take()
	vol := createVolume(ctx, t, ctrl, "figures-"+sanityrun.UUID()[:8], gib)
	counts := map[string]Count{"CreateVolume": b.calls.Take()}

	var novaAttach, novaDetach, drvAttach, drvDetach []time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		if _, err := volumeattach.Create(ctx, b.st.Compute, srv.ID, volumeattach.CreateOpts{VolumeID: vol}).Extract(); err != nil {
			t.Fatal(err)
		}
		if err := b.st.waitVolume(ctx, vol, "in-use"); err != nil {
			t.Fatal(err)
		}
		novaAttach = append(novaAttach, time.Since(start))
		start = time.Now()
		if err := volumeattach.Delete(ctx, b.st.Compute, srv.ID, vol).ExtractErr(); err != nil {
			t.Fatal(err)
		}
		if err := b.st.waitVolume(ctx, vol, "available"); err != nil {
			t.Fatal(err)
		}
		novaDetach = append(novaDetach, time.Since(start))

		b.calls.Take()
		start = time.Now()
		publish(ctx, t, ctrl, vol, srv)
		drvAttach = append(drvAttach, time.Since(start))
		counts["ControllerPublishVolume"] = b.calls.Take()
		publish(ctx, t, ctrl, vol, srv)
		counts["ControllerPublishVolume (already attached)"] = b.calls.Take()
		start = time.Now()
		unpublish(ctx, t, ctrl, vol, srv)
		drvDetach = append(drvDetach, time.Since(start))
		counts["ControllerUnpublishVolume"] = b.calls.Take()
		unpublish(ctx, t, ctrl, vol, srv)
		counts["ControllerUnpublishVolume (already detached)"] = b.calls.Take()
	}

	if _, err := ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
		VolumeId: vol, CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}, VolumeCapability: mountCap,
	}); err != nil {
		t.Fatal(err)
	}
	counts["ControllerExpandVolume"] = b.calls.Take()
	snap, err := ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{SourceVolumeId: vol, Name: "figures-snap-" + sanityrun.UUID()[:8]})
	if err != nil {
		t.Fatal(err)
	}
	counts["CreateSnapshot"] = b.calls.Take()
	if _, err := ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshot().GetSnapshotId()}); err != nil {
		t.Fatal(err)
	}
	counts["DeleteSnapshot"] = b.calls.Take()
	if _, err := ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vol}); err != nil {
		t.Fatal(err)
	}
	counts["DeleteVolume"] = b.calls.Take()

	na, nd, da, dd := median(novaAttach), median(novaDetach), median(drvAttach), median(drvDetach)
	fmt.Printf("nova-figures: attach   median of %d: driver ControllerPublishVolume %v, Nova's own (POST + 50 ms polls) %v: ratio %.2f\n", rounds, ms(da), ms(na), ratio(da, na))
	fmt.Printf("nova-figures: detach   median of %d: driver ControllerUnpublishVolume %v, Nova's own (DELETE + 50 ms polls) %v: ratio %.2f\n", rounds, ms(dd), ms(nd), ratio(dd, nd))
	ops := make([]string, 0, len(counts))
	for op := range counts {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		fmt.Printf("nova-figures: API calls of %-45s %v\n", op, counts[op])
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }
