package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	mountutils "k8s.io/mount-utils"
)

func TestShareDirNameMatchesOSBrick(t *testing.T) {
	// printf '%s' 127.0.0.1:/srv/export | md5sum
	if got, want := shareDirName("127.0.0.1:/srv/export"), "af84f382ebd177d5ed5600303caa430d"; got != want {
		t.Errorf("shareDirName = %s, want %s", got, want)
	}
}

func TestNFSConnectorConnect(t *testing.T) {
	const export = "127.0.0.1:/srv/export"
	base := t.TempDir()
	share := filepath.Join(base, shareDirName(export))
	file := filepath.Join(share, "volume-"+volID)
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	attach := []step{
		{argv: findCmd(file), out: noLoopDevices},
		{argv: losetup("--find", "--show", "--nooverlap", file), out: "/dev/loop9\n"},
	}
	data := func(kv ...string) map[string]any {
		d := map[string]any{"export": export, "name": "volume-" + volID, "format": "raw", "mount_point_base": base}
		for i := 0; i < len(kv); i += 2 {
			d[kv[i]] = kv[i+1]
		}
		return d
	}
	tests := []struct {
		name      string
		mountBase string
		data      map[string]any
		steps     []step
		want      string
		wantErr   error
	}{
		{name: "Cinder's mount base", data: data(), steps: attach, want: "/dev/loop9"},
		{name: "the node's mount base wins", mountBase: base, data: data("mount_point_base", "/elsewhere"), steps: attach, want: "/dev/loop9"},
		{name: "vmdk", data: data("format", "vmdk"), wantErr: ErrUnsupported},
		{name: "another volume's file", data: data("name", "volume-x"), wantErr: ErrInvalidArgument},
		{name: "name escapes the share", data: data("name", "../volume-"+volID), wantErr: ErrInvalidArgument},
		{name: "relative base", data: data("mount_point_base", "mnt"), wantErr: ErrInvalidArgument},
		{name: "no export", data: map[string]any{"name": "volume-" + volID}, wantErr: ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mounted := mountutils.NewFakeMounter([]mountutils.MountPoint{{Device: export, Path: share, Type: "nfs"}})
			c := NewNFSConnector(NewLoopDevices(scriptedExec(t, tc.steps...)), tc.mountBase).WithMounter(mounted)
			got, err := c.Connect(context.Background(), volID, tc.data)
			if log := mounted.GetLog(); len(log) != 0 {
				t.Errorf("a mounted share was mounted again: %+v", log)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("device = %q, want %q", got, tc.want)
			}
		})
	}
}

// A share nothing has mounted yet is mounted where os-brick would mount it, with
// Cinder's nfs_mount_options, before the volume file is attached.
func TestNFSConnectorMountsShare(t *testing.T) {
	const export = "127.0.0.1:/srv/export"
	base := t.TempDir()
	share := filepath.Join(base, shareDirName(export))
	file := filepath.Join(share, "volume-"+volID)
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fake := mountutils.NewFakeMounter(nil)
	c := NewNFSConnector(NewLoopDevices(scriptedExec(t,
		step{argv: findCmd(file), out: noLoopDevices},
		step{argv: losetup("--find", "--show", "--nooverlap", file), out: "/dev/loop9\n"},
	)), "").WithMounter(fake)
	dev, err := c.Connect(context.Background(), volID, map[string]any{"export": export, "name": "volume-" + volID,
		"format": "raw", "mount_point_base": base, "options": "-o vers=4.1,proto=tcp"})
	if err != nil || dev != "/dev/loop9" {
		t.Fatalf("Connect = %q, %v", dev, err)
	}
	log := fake.GetLog()
	if len(log) != 1 || log[0].Action != "mount" || log[0].Source != export || log[0].Target != share || log[0].FSType != "nfs" {
		t.Fatalf("mounts = %+v, want one nfs mount of %s at %s", log, export, share)
	}
	mps, _ := fake.List()
	if len(mps) != 1 || !slices.Equal(mps[0].Opts, []string{"vers=4.1", "proto=tcp"}) {
		t.Errorf("mount options = %+v, want vers=4.1 and proto=tcp", mps)
	}
}

func TestIsSnapshotOverlay(t *testing.T) {
	const other = "11111111-2222-4333-8444-555555555555"
	for name, want := range map[string]bool{
		"volume-" + volID + ".890b63ea-ec7f-4f6d-8803-96dd764d1b6c": true,
		"volume-" + volID: false,
		"volume-" + other + ".890b63ea-ec7f-4f6d-8803-96dd764d1b6c":   false,
		"volume-" + volID + ".info":                                   false,
		"volume-" + volID + ".890b63ea-ec7f-4f6d-8803-96dd764d1b6c/x": false,
	} {
		if got := isSnapshotOverlay(volID, name); got != want {
			t.Errorf("isSnapshotOverlay(%q) = %t, want %t", name, got, want)
		}
	}
}
