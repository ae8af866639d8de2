package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
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
		{name: "share not mounted", data: data("export", "10.0.0.1:/other"), wantErr: ErrDeviceNotFound},
		{name: "another volume's file", data: data("name", "volume-x"), wantErr: ErrInvalidArgument},
		{name: "name escapes the share", data: data("name", "../volume-"+volID), wantErr: ErrInvalidArgument},
		{name: "relative base", data: data("mount_point_base", "mnt"), wantErr: ErrInvalidArgument},
		{name: "no export", data: map[string]any{"name": "volume-" + volID}, wantErr: ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewNFSConnector(NewLoopDevices(scriptedExec(t, tc.steps...)), tc.mountBase)
			got, err := c.Connect(context.Background(), volID, tc.data)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("device = %q, want %q", got, tc.want)
			}
		})
	}
}
