package realnova

import (
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/test/sanityrun"
)

// TestSanityNova runs csi-sanity against the driver with --attacher nova: the
// controller service against the real Nova and Cinder, the node service on a real
// Nova server's disks as the hypervisor stand-in plugs them. Nothing sanity made
// may be left attached to the server, or in the project (the bed's inventory).
func TestSanityNova(t *testing.T) {
	b := newBed(t)
	srv := b.server(t, "nova-sanity-node")
	n := b.node(t, srv)

	cfg := sanityrun.Config(b.dir, n.Sock)
	sanityrun.Run(t, cfg, "real-nova sanity", sanityrun.Want{MinPassed: 100, Messages: sanityrun.DriverSkips}, 40*time.Minute)

	if left := b.attachedVolumes(t, srv); len(left) > 0 {
		t.Errorf("volumes still attached to the sanity server: %v", left)
	}
	if err := b.hv.Errors(); err != nil {
		t.Errorf("hypervisor stand-in: %v", err)
	}
}
