package realcinder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// TestExpansionRecovery shows what Kubernetes' RecoverVolumeExpansionFailure meets on
// real Cinder. The bed's NFS driver cannot extend an attached volume: Cinder takes
// the request and leaves the volume in error_extending. The project's member may not
// reset a status, so the failed extension says what an admin must run, and a retry
// (to a smaller size, as a user who lowers the PVC's request makes) is refused with
// the same command, touching nothing. With an admin's credentials (the noauth API)
// the retry resets the volume first; once it is detached, the smaller size is made.
func TestExpansionRecovery(t *testing.T) {
	requireTestBed(t)
	member, admin := client(t, "local"), client(t, "local-noauth")
	check := leakCheck(t, member)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v, err := member.CreateVolume(ctx, cinder.CreateVolumeOpts{Name: fmt.Sprintf("expand-recovery-%d", time.Now().UnixNano()%1_000_000), SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	node := cinder.Node{ID: "expand-recovery-node", IP: "127.0.0.3"}
	defer func() {
		cctx := context.WithoutCancel(ctx)
		if err := member.CinderAttacher().Detach(cctx, v.ID, node.ID); err != nil {
			t.Errorf("detach: %v", err)
		}
		if err := member.DeleteVolume(cctx, v.ID); err != nil {
			t.Errorf("delete: %v", err)
		}
		check()
	}()
	if _, err := member.CinderAttacher().Attach(ctx, v, node); err != nil {
		t.Fatal(err)
	}
	read := func(c *cinder.Client) *cinder.Volume {
		t.Helper()
		got, err := c.GetVolume(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	adminCommand := "openstack volume set --state in-use " + v.ID

	// 1. The online extension fails in the backend; the member cannot reset.
	_, err = member.ExpandVolume(ctx, read(member), 3)
	if !errors.Is(err, cinder.ErrBackend) || !strings.Contains(err.Error(), adminCommand) {
		t.Fatalf("online extension on NFS: %v; want ErrBackend naming %q", err, adminCommand)
	}
	if got := read(member); got.Status != cinder.StatusErrorExtending || got.SizeGiB != 1 {
		t.Fatalf("after the failed extension: %s at %d GiB, want error_extending at 1 GiB", got.Status, got.SizeGiB)
	}
	// 2. The retry to a smaller size, as the member: refused, nothing touched.
	_, err = member.ExpandVolume(ctx, read(member), 2)
	if !errors.Is(err, cinder.ErrInvalidState) || !strings.Contains(err.Error(), adminCommand) {
		t.Fatalf("retry without the right to reset: %v; want ErrInvalidState naming %q", err, adminCommand)
	}
	if got := read(member); got.Status != cinder.StatusErrorExtending || got.SizeGiB != 1 {
		t.Fatalf("after the refused retry: %s at %d GiB, want it untouched", got.Status, got.SizeGiB)
	}
	// 3. As an admin: the retry resets it to in-use, extends online, fails again in
	// the backend, and is reset again: the volume stays usable at 1 GiB.
	_, err = admin.ExpandVolume(ctx, read(admin), 2)
	if !errors.Is(err, cinder.ErrBackend) || !strings.Contains(err.Error(), `the driver reset it to "in-use"`) {
		t.Fatalf("admin's retry while attached: %v; want ErrBackend after a reset", err)
	}
	if got := read(member); got.Status != cinder.StatusInUse || got.SizeGiB != 1 {
		t.Fatalf("after the admin's retry: %s at %d GiB, want in-use at 1 GiB", got.Status, got.SizeGiB)
	}
	// 4. Detached, the smaller size is made, offline.
	if err := member.CinderAttacher().Detach(ctx, v.ID, node.ID); err != nil {
		t.Fatal(err)
	}
	grown, err := member.ExpandVolume(ctx, read(member), 2)
	if err != nil || grown.SizeGiB != 2 || grown.Status != cinder.StatusAvailable {
		t.Fatalf("offline extension after the recovery: %+v, %v; want available at 2 GiB", grown, err)
	}
}
