package mount

import (
	"context"
	"errors"
	"slices"
	"testing"
)

const noLoopDevices = `{"loopdevices": []}`

func losetup(args ...string) []string {
	return append([]string{"losetup"}, args...)
}

func listCmd() []string {
	return losetup("--list", "--json", "--output", "NAME,BACK-FILE")
}

func findCmd(file string) []string {
	return append(listCmd(), "--associated", file)
}

func TestParseLosetupJSON(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []LoopDevice
		wantErr bool
	}{
		{name: "no output at all", out: "", want: nil},
		{name: "empty list", out: noLoopDevices, want: []LoopDevice{}},
		{
			name: "sorted, deleted file, spaces, no backing file",
			out: `{"loopdevices": [
				{"name": "/dev/loop3", "back-file": "/srv/volume-b (deleted)"},
				{"name": "/dev/loop1", "back-file": "/srv/with space/volume-a"},
				{"name": "/dev/loop2", "back-file": null}]}`,
			want: []LoopDevice{
				{Device: "/dev/loop1", BackingFile: "/srv/with space/volume-a"},
				{Device: "/dev/loop2"},
				{Device: "/dev/loop3", BackingFile: "/srv/volume-b", Deleted: true},
			},
		},
		{name: "not JSON", out: "losetup: something odd", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLosetupJSON(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLoopAttach(t *testing.T) {
	const file = "/srv/volume-a"
	tests := []struct {
		name    string
		steps   []step
		want    string
		wantErr bool
	}{
		{
			name: "reuses the existing device without attaching another",
			steps: []step{{argv: findCmd(file),
				out: `{"loopdevices":[{"name":"/dev/loop7","back-file":"/srv/volume-a"},{"name":"/dev/loop2","back-file":"/srv/volume-a"}]}`}},
			want: "/dev/loop2",
		},
		{
			name: "attaches when none exists",
			steps: []step{
				{argv: findCmd(file), out: noLoopDevices},
				{argv: losetup("--find", "--show", "--nooverlap", file), out: "/dev/loop4\n"},
			},
			want: "/dev/loop4",
		},
		{
			name: "losetup failure carries its output",
			steps: []step{
				{argv: findCmd(file), out: ""},
				{argv: losetup("--find", "--show", "--nooverlap", file), out: "losetup: cannot find an unused loop device", err: exitErr(1)},
			},
			wantErr: true,
		},
		{
			// losetup's warning comes on stderr, before the device on stdout.
			name: "a warning beside the device",
			steps: []step{
				{argv: findCmd(file), out: noLoopDevices},
				{argv: losetup("--find", "--show", "--nooverlap", file),
					out: "losetup: /srv/volume-a: Warning: file does not fit into a 512-byte sector; the end of the file will be ignored.\n/dev/loop1\n"},
			},
			want: "/dev/loop1",
		},
		{
			name: "output that is not a device",
			steps: []step{
				{argv: findCmd(file), out: ""},
				{argv: losetup("--find", "--show", "--nooverlap", file), out: "huh"},
			},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loop := NewLoopDevices(scriptedExec(t, tc.steps...))
			got, err := loop.Attach(context.Background(), file)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("device = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoopDetach(t *testing.T) {
	const dev = "/dev/loop3"
	detach := losetup("--detach", dev)
	tests := []struct {
		name    string
		steps   []step
		wantErr bool
	}{
		{name: "detaches", steps: []step{{argv: detach}}},
		{
			name: "already detached is success",
			steps: []step{
				{argv: detach, out: "losetup: /dev/loop3: detach failed: No such device or address", err: exitErr(1)},
				{argv: listCmd(), out: `{"loopdevices":[{"name":"/dev/loop1","back-file":"/x"}]}`},
			},
		},
		{
			name: "a failure while the device is still there is an error",
			steps: []step{
				{argv: detach, out: "losetup: /dev/loop3: detach failed: Permission denied", err: exitErr(1)},
				{argv: listCmd(), out: `{"loopdevices":[{"name":"/dev/loop3","back-file":"/x"}]}`},
			},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loop := NewLoopDevices(scriptedExec(t, tc.steps...))
			err := loop.Detach(context.Background(), dev)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %t", err, tc.wantErr)
			}
		})
	}
}

func TestLoopRefresh(t *testing.T) {
	loop := NewLoopDevices(scriptedExec(t, step{argv: losetup("--set-capacity", "/dev/loop0")}))
	if err := loop.Refresh(context.Background(), "/dev/loop0"); err != nil {
		t.Fatal(err)
	}
	failing := NewLoopDevices(scriptedExec(t, step{argv: losetup("--set-capacity", "/dev/loop0"), err: errors.New("boom")}))
	if err := failing.Refresh(context.Background(), "/dev/loop0"); err == nil {
		t.Fatal("want an error")
	}
}
