package realcinder

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// retryLikeASidecar calls f until it answers something other than Aborted or
// Unavailable (another call on the same name or volume, or Cinder still working), as
// the CSI sidecars do.
func retryLikeASidecar(ctx context.Context, f func() error) error {
	for {
		err := f()
		if c := status.Code(err); c != codes.Aborted && c != codes.Unavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestConcurrency: 20 concurrent CreateVolume calls with one name make exactly one
// Cinder volume; 4 concurrent publishes to a node one short of its attach limit
// attach exactly one volume.
func TestConcurrency(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	check := leakCheck(t, c)
	dir := t.TempDir()
	const node, limit = "concurrency-node", 2
	conn, stop, err := testbed.StartDriver(ctx, c, dir, node, limit)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("driver: %v", err)
		}
	}()
	cs := csi.NewControllerClient(conn)
	volCap := testbed.MountCap()
	create := func(name string) (string, error) {
		var id string
		err := retryLikeASidecar(ctx, func() error {
			r, err := cs.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, VolumeCapabilities: []*csi.VolumeCapability{volCap},
				CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}})
			id = r.GetVolume().GetVolumeId()
			return err
		})
		return id, err
	}
	var made []string
	defer func() {
		for _, id := range made {
			_, _ = cs.ControllerUnpublishVolume(context.Background(), &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: testbed.NodeID(node)})
			_ = retryLikeASidecar(context.Background(), func() error {
				_, err := cs.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id})
				return err
			})
		}
		check()
	}()

	t.Run("20 creates of one name make one volume", func(t *testing.T) {
		const n = 20
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ids[i], errs[i] = create("concurrency-one-name")
			}(i)
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil {
				t.Fatalf("create %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Errorf("create %d returned %s, create 0 %s", i, ids[i], ids[0])
			}
		}
		made = append(made, ids[0])
		found, err := c.FindVolumesByName(ctx, "concurrency-one-name")
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 {
			t.Errorf("Cinder holds %d volumes named concurrency-one-name, want 1", len(found))
		}
	})

	t.Run("publishes at the attach limit", func(t *testing.T) {
		var ids []string
		for i := 0; i < 5; i++ {
			id, err := create(fmt.Sprintf("concurrency-attach-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			made = append(made, id)
		}
		publish := func(id string) error {
			return retryLikeASidecar(ctx, func() error {
				_, err := cs.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: testbed.NodeID(node), VolumeCapability: volCap})
				return err
			})
		}
		if err := publish(ids[0]); err != nil { // one short of the limit now
			t.Fatal(err)
		}
		results := make([]codes.Code, len(ids)-1)
		var wg sync.WaitGroup
		for i, id := range ids[1:] {
			wg.Add(1)
			go func(i int, id string) {
				defer wg.Done()
				results[i] = status.Code(publish(id))
			}(i, id)
		}
		wg.Wait()
		ok := 0
		for _, r := range results {
			switch r {
			case codes.OK:
				ok++
			case codes.ResourceExhausted:
			default:
				t.Errorf("publish answered %s", r)
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent publishes succeeded at limit-1, want 1 (codes %v)", ok, len(results), results)
		}
		vols, _, err := c.ListVolumes(ctx, cinder.ListOpts{})
		if err != nil {
			t.Fatal(err)
		}
		attached := 0
		for _, v := range vols {
			if v.AttachedTo(node) {
				attached++
			}
		}
		if attached != limit {
			t.Errorf("Cinder shows %d volumes attached to %s, want its limit %d", attached, node, limit)
		}
	})
}
