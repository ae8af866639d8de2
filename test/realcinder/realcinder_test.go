package realcinder

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/inventory"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// requireTestBed skips without the test bed, or fails with REQUIRE_REAL_CINDER=1.
func requireTestBed(t *testing.T) {
	t.Helper()
	skip := sanityrun.Missing(t, "REQUIRE_REAL_CINDER")
	if os.Geteuid() != 0 {
		skip("the real-Cinder tests need root: they attach volume files as loop devices and mount them")
	}
	if _, err := testbed.CloudsFile(); err != nil {
		skip("%v", err)
	}
}

func client(t *testing.T, cloudName string) *cinder.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testbed.Client(ctx, cloudName)
	if err != nil {
		t.Fatalf("connecting to cloud %s of the test bed: %v", cloudName, err)
	}
	return c
}

// leakCheck takes the project's full inventory (volumes, snapshots, backups, Cinder
// attachments, whatever their names) and returns the check to run after the test's
// cleanups: it waits up to 3 minutes for Cinder to hold exactly that again, and fails
// the test for every difference, new or gone.
func leakCheck(t *testing.T, c *cinder.Client) func() {
	t.Helper()
	ctx := context.Background()
	before, err := inventory.Take(ctx, inventory.Cinder(c))
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		diff, err := inventory.Settle(ctx, before, 3*time.Minute, inventory.Cinder(c))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diff {
			t.Errorf("Cinder's inventory differs after the test: %s", d)
		}
	}
}

// walkDriver starts the driver of a walk on host (16 volumes) and stops it when the
// test ends; it returns the connection and the walk's directory.
func walkDriver(ctx context.Context, t *testing.T, c *cinder.Client, host string) (*grpc.ClientConn, string) {
	t.Helper()
	dir := t.TempDir()
	conn, stop, err := testbed.StartDriver(ctx, c, dir, host, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("driver: %v", err)
		}
	})
	return conn, dir
}

// TestLifecycle walks a volume's life through the CSI API against real Cinder.
func TestLifecycle(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	check := leakCheck(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	conn, dir := walkDriver(ctx, t, c, "walk-node-a")
	w := testbed.NewWalk(conn, dir, [2]string{testbed.NodeID("walk-node-a"), testbed.NodeID("walk-node-b")}, t.Logf)
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	check()
	for _, s := range w.Steps {
		fmt.Printf("lifecycle: %-44s %6.1fs\n", s.Name, s.Duration.Seconds())
	}
}
