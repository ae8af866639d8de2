package mount

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDiskSlotsOthers(t *testing.T) {
	const ours, theirs, other = "0f6c1e58-3c1b-4c8e-9a77-5b1f0d2e9a10", "7d2e6a0b-1111-4c8e-9a77-5b1f0d2e9a10", "a3e9d4c2-2222-4c8e-9a77-5b1f0d2e9a10"
	root := t.TempDir()
	sys, kubelet := filepath.Join(root, "sys"), filepath.Join(root, "kubelet")
	write := func(p, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	disk := func(name, serial string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(sys, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if serial != "-" {
			write(filepath.Join(sys, name, "serial"), serial+"\n")
		}
	}
	disk("vda", "-")                    // the root disk of an image: no serial
	disk("vdb", "")                     // a config drive: an empty one
	disk("vdc", ours[:20])              // this driver's, staged (filesystem)
	disk("vdd", theirs[:20])            // another driver's volume
	disk("vde", other[:20])             // this driver's, a block volume
	disk("vdf", "c0ffee00-9999-4c8e-9") // attached, not staged yet
	disk("loop0", "")                   // not a virtio disk
	disk("sr0", "")
	csi := filepath.Join(kubelet, "plugins", "kubernetes.io", "csi")
	write(filepath.Join(csi, "cinder.csi.openstack.org", "5e1f", "vol_data.json"), `{"driverName":"cinder.csi.openstack.org","volumeHandle":"`+ours+`"}`)
	write(filepath.Join(csi, "other.csi.example.org", "77aa", "vol_data.json"), `{"driverName":"other.csi.example.org","volumeHandle":"`+theirs+`"}`)
	write(filepath.Join(csi, "volumeDevices", "pvc-1", "data", "vol_data.json"), `{"driverName":"cinder.csi.openstack.org","volumeHandle":"`+other+`"}`)
	write(filepath.Join(csi, "volumeDevices", "pvc-2", "data", "vol_data.json"), `{"driverName":"other.csi.example.org","volumeHandle":"`+theirs+`"}`)
	write(filepath.Join(csi, "cinder.csi.openstack.org", "bad", "vol_data.json"), `{not json`)

	n, names, err := DiskSlots{SysBlock: sys, KubeletDir: kubelet, DriverName: "cinder.csi.openstack.org"}.Others()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"vda", "vdb", "vdd", "vdf"}; n != len(want) || !slices.Equal(names, want) {
		t.Errorf("others = %d %v, want %v", n, names, want)
	}
	if _, _, err := (DiskSlots{SysBlock: filepath.Join(root, "none"), KubeletDir: kubelet, DriverName: "x"}).Others(); err == nil {
		t.Error("no /sys/block: no error")
	}
}
