package mount

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestNodeStorageProblems(t *testing.T) {
	dir := t.TempDir()
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	present := filepath.Join(dir, "loop-control")
	if err := os.WriteFile(present, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	without := func(tools ...string) func(string) (string, error) {
		return func(name string) (string, error) {
			if slices.Contains(tools, name) {
				return "", errors.New("not found")
			}
			return "/usr/sbin/" + name, nil
		}
	}
	tests := []struct {
		name string
		n    NodeStorage
		want []StorageProblem
	}{
		{"healthy Cinder path", NodeStorage{StateDir: filepath.Join(dir, "state"), LoopControl: present, LookPath: without()}, nil},
		{"healthy Nova path", NodeStorage{StateDir: filepath.Join(dir, "state"), DiskByID: dir, LookPath: without()}, nil},
		{"no loop devices, no losetup", NodeStorage{LoopControl: filepath.Join(dir, "none"), LookPath: without("losetup")}, []StorageProblem{
			{Unreachable: true, Reason: "NoLoopDevices"}, {Unreachable: true, Reason: "ToolMissing"}}},
		{"no udev links", NodeStorage{DiskByID: filepath.Join(dir, "by-id"), LookPath: without()}, []StorageProblem{
			{Unreachable: true, Reason: "NoDiskByIDLinks"}}},
		{"losetup is not needed on the Nova path", NodeStorage{LookPath: without("losetup")}, nil},
		{"no xfsprogs: only xfs volumes suffer", NodeStorage{LookPath: without("xfs_growfs")}, []StorageProblem{
			{Reason: "FilesystemToolMissing", FSType: "xfs"}}},
		{"no e2fsprogs: ext3 and ext4", NodeStorage{LookPath: without("e2fsck")}, []StorageProblem{
			{Reason: "FilesystemToolMissing", FSType: "ext3"}, {Reason: "FilesystemToolMissing", FSType: "ext4"}}},
	}
	if os.Geteuid() != 0 { // root writes through mode 0500
		tests = append(tests, struct {
			name string
			n    NodeStorage
			want []StorageProblem
		}{"read-only state directory", NodeStorage{StateDir: readOnly, LookPath: without()}, []StorageProblem{{Unreachable: true, Reason: "StateDirNotWritable"}}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.n.Problems()
			if len(got) != len(tc.want) {
				t.Fatalf("problems %+v, want %+v", got, tc.want)
			}
			for i := range got {
				w := tc.want[i]
				if got[i].Unreachable != w.Unreachable || got[i].Reason != w.Reason || got[i].FSType != w.FSType || got[i].Message == "" {
					t.Errorf("problem %d: %+v, want %+v with a message", i, got[i], w)
				}
			}
		})
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "state")); len(entries) != 0 {
		t.Errorf("the writability check left %d files", len(entries))
	}
}

// A state directory that is a file cannot be written into.
func TestNodeStorageStateDirIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got := NodeStorage{StateDir: file, LookPath: func(n string) (string, error) { return n, nil }}.Problems()
	if len(got) != 1 || got[0].Reason != "StateDirNotWritable" || !got[0].Unreachable {
		t.Errorf("problems %+v, want StateDirNotWritable", got)
	}
}
