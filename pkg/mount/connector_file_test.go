package mount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const volID = "4f3c2a8e-1b2d-4c5e-9f60-7a8b9c0d1e2f"

func TestCheckVolumeFile(t *testing.T) {
	tests := []struct {
		name     string
		volumeID string
		path     string
		wantErr  error
	}{
		{name: "the volume's file", volumeID: volID, path: "/mnt/abc/volume-" + volID},
		{name: "a derived file", volumeID: volID, path: "/mnt/abc/volume-" + volID + ".snap-1"},
		{name: "relative", volumeID: volID, path: "mnt/volume-" + volID, wantErr: ErrInvalidArgument},
		{name: "unclean", volumeID: volID, path: "/mnt/../etc/volume-" + volID, wantErr: ErrInvalidArgument},
		{name: "trailing slash", volumeID: volID, path: "/mnt/volume-" + volID + "/", wantErr: ErrInvalidArgument},
		{name: "another volume's file", volumeID: volID, path: "/mnt/volume-" + volID + "0", wantErr: ErrInvalidArgument},
		{name: "not a volume file", volumeID: volID, path: "/etc/shadow", wantErr: ErrInvalidArgument},
		{name: "empty volume ID", volumeID: "", path: "/mnt/volume-", wantErr: ErrInvalidArgument},
		{name: "volume ID with a slash", volumeID: "a/b", path: "/mnt/volume-a/b", wantErr: ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkVolumeFile(tc.volumeID, tc.path)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestFileConnectorConnect(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "volume-"+volID)
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link", "volume-"+volID)
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", link); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "volume-"+volID+".d")
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    map[string]any
		steps   []step
		want    string
		wantErr error
	}{
		{
			name: "attaches the file",
			data: map[string]any{"path": file},
			steps: []step{
				{argv: findCmd(file), out: noLoopDevices},
				{argv: losetup("--find", "--show", "--nooverlap", file), out: "/dev/loop5\n"},
			},
			want: "/dev/loop5",
		},
		{name: "no path", data: map[string]any{"name": "x"}, wantErr: ErrInvalidArgument},
		{name: "path not a string", data: map[string]any{"path": 3}, wantErr: ErrInvalidArgument},
		{name: "missing file", data: map[string]any{"path": file + ".gone"}, wantErr: ErrDeviceNotFound},
		{name: "symlink", data: map[string]any{"path": link}, wantErr: ErrInvalidArgument},
		{name: "directory", data: map[string]any{"path": subdir}, wantErr: ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewFileConnector(NewLoopDevices(scriptedExec(t, tc.steps...)))
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

func TestFileConnectorDisconnect(t *testing.T) {
	list := `{"loopdevices":[
		{"name":"/dev/loop0","back-file":"/mnt/a/volume-` + volID + `"},
		{"name":"/dev/loop1","back-file":"/mnt/a/volume-` + volID + `.snap (deleted)"},
		{"name":"/dev/loop2","back-file":"/mnt/a/volume-` + volID + `0"},
		{"name":"/dev/loop3","back-file":"/mnt/a/other"},
		{"name":"/dev/loop4","back-file":null}]}`
	tests := []struct {
		name    string
		steps   []step
		wantErr bool
	}{
		{
			name: "detaches only the volume's devices, found from the kernel's list",
			steps: []step{
				{argv: listCmd(), out: list},
				{argv: losetup("--detach", "/dev/loop0")},
				{argv: losetup("--detach", "/dev/loop1")},
			},
		},
		{name: "nothing attached", steps: []step{{argv: listCmd(), out: ""}}},
		{
			name: "tries every device and reports failures",
			steps: []step{
				{argv: listCmd(), out: list},
				{argv: losetup("--detach", "/dev/loop0"), err: exitErr(1)},
				{argv: listCmd(), out: list},
				{argv: losetup("--detach", "/dev/loop1")},
			},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewFileConnector(NewLoopDevices(scriptedExec(t, tc.steps...)))
			err := c.Disconnect(context.Background(), volID)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
		})
	}
}
