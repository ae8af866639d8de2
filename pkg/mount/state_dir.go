package mount

import (
	"os"
	"path/filepath"
)

// DefaultStateDir is where the node plugin keeps what it must find again after a
// restart and that the system cannot tell it: which iSCSI targets a volume uses, the
// pidfiles and FUSE mount points of qcow2 exports. It must outlive the plugin's
// container (a hostPath on the node), or a restarted plugin cannot disconnect.
const DefaultStateDir = "/var/lib/cinder-csi"

// writeFileAtomic writes data to path, mode 0600, through a temporary file and a
// rename, so that a crash leaves the old content or the new, never a torn file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
