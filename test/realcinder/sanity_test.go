package realcinder

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// skippedOnRealCinder names the sanity cases that cannot apply here, with why.
// None: a node that does not exist is told apart by its node ID's signature (the
// suites' drivers hold testbed.PublishKey, pkg/driver/node_id.go).
var skippedOnRealCinder = map[string]string{}

// TestSanityRealCinder runs csi-sanity against the driver on the real local Cinder,
// through the Cinder-attachments path with real loop devices and mounts.
func TestSanityRealCinder(t *testing.T) {
	requireTestBed(t)
	c := client(t, "local")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const node = "sanity-real-node"
	check := leakCheck(t, c)
	conn, stop, err := testbed.StartDriver(ctx, c, dir, node, 3)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("driver: %v", err)
		}
	}()

	cfg := sanityrun.Config(dir, filepath.Join(dir, "csi.sock"))
	sanityrun.Run(t, cfg, "real-cinder sanity",
		sanityrun.Want{MinPassed: 100, Named: skippedOnRealCinder, Messages: sanityrun.DriverSkips}, 40*time.Minute)
	// Nothing sanity made, whatever its name, may be left in Cinder.
	check()
}
