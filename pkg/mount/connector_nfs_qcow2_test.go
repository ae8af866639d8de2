package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mountutils "k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"
)

func TestNFSConnectorQcow2(t *testing.T) {
	const export = "127.0.0.1:/srv/export"
	base := t.TempDir()
	share := filepath.Join(base, shareDirName(export))
	overlay := filepath.Join(share, "volume-"+volID+".5e0a")
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(overlay, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"export": export, "name": filepath.Base(overlay), "format": "qcow2", "mount_point_base": base}

	t.Run("refused without qemu exports", func(t *testing.T) {
		c := NewNFSConnector(NewLoopDevices(recordedExec(t)), "").WithQemuExports(nil).WithMounter(shareMounted(export, share))
		_, err := c.Connect(context.Background(), volID, data)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "this node attaches: raw") {
			t.Fatalf("err = %v, want ErrUnsupported naming raw", err)
		}
	})

	t.Run("handed to the qemu exports", func(t *testing.T) {
		e := recordedExec(t, run{argv: qemuImgInfoCmd(overlay), err: utilexec.ErrExecutableNotFound})
		loop := NewLoopDevices(e)
		c := NewNFSConnector(loop, "").WithQemuExports(NewQemuExports(e, loop, t.TempDir())).WithMounter(shareMounted(export, share))
		_, err := c.Connect(context.Background(), volID, data)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "qemu-utils") {
			t.Fatalf("err = %v, want ErrUnsupported naming qemu-utils", err)
		}
	})

	t.Run("a snapshot overlay reported as raw is still qcow2", func(t *testing.T) {
		// Cinder's GET /attachments/{id} puts the volume's creation format in place of
		// the active image's: the overlay must not be mapped as a raw file.
		snap := "volume-" + volID + ".890b63ea-ec7f-4f6d-8803-96dd764d1b6c"
		if err := os.WriteFile(filepath.Join(share, snap), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		c := NewNFSConnector(NewLoopDevices(recordedExec(t)), "").WithQemuExports(nil).WithMounter(shareMounted(export, share))
		raw := map[string]any{"export": export, "name": snap, "format": "raw", "mount_point_base": base}
		if _, err := c.Connect(context.Background(), volID, raw); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "qcow2 image") {
			t.Fatalf("err = %v, want the qcow2 refusal of a node without qemu exports", err)
		}
	})

	t.Run("the name is checked before qemu sees it", func(t *testing.T) {
		c := NewNFSConnector(NewLoopDevices(recordedExec(t)), "").WithQemuExports(NewQemuExports(recordedExec(t), nil, t.TempDir())).WithMounter(shareMounted(export, share))
		bad := map[string]any{"export": export, "name": "volume-other.5e0a", "format": "qcow2", "mount_point_base": base}
		if _, err := c.Connect(context.Background(), volID, bad); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("err = %v, want ErrInvalidArgument", err)
		}
	})

	t.Run("disconnect detaches raw files and asks the qemu exports", func(t *testing.T) {
		e := recordedExec(t, run{argv: listCmd(), stdout: `{"loopdevices":[{"name":"/dev/loop2","back-file":"` + filepath.Join(share, "volume-"+volID) + `"}]}`},
			run{argv: losetup("--detach", "/dev/loop2")})
		loop := NewLoopDevices(e)
		// No export state: the qemu side runs nothing.
		c := NewNFSConnector(loop, "").WithQemuExports(NewQemuExports(e, loop, t.TempDir())).WithMounter(shareMounted(export, share))
		if err := c.Disconnect(context.Background(), volID); err != nil {
			t.Fatal(err)
		}
	})
}

// shareMounted is a mount table in which the share is already mounted, so tests never
// run mount(8) for an NFS export.
func shareMounted(export, share string) *mountutils.FakeMounter {
	return mountutils.NewFakeMounter([]mountutils.MountPoint{{Device: export, Path: share, Type: "nfs"}})
}
