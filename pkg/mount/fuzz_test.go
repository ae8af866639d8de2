package mount

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzConnectionData: the connectors' parsers of Cinder's connection data, which
// reaches the node from the controller's publish context, never panic on any JSON
// object, and an RBD image they accept is the volume's own.
func FuzzConnectionData(f *testing.F) {
	f.Add(`{"target_portal":"127.0.0.1:3260","target_iqn":"iqn.2010-10.org.openstack:volume-1","target_lun":1}`)
	f.Add(`{"target_portals":["a","b"],"target_iqns":["x"],"target_luns":[1,2]}`)
	f.Add(`{"name":"volumes/volume-` + volID + `","hosts":["127.0.0.1"],"ports":["6789"]}`)
	f.Add(`{"export":"127.0.0.1:/srv","options":"-o vers=4"}`)
	f.Add(`{"a":{"b":[{"c":1e999}]}}`)
	f.Fuzz(func(t *testing.T, raw string) {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var data map[string]any
		if dec.Decode(&data) != nil || data == nil {
			return
		}
		_, _, _ = parseISCSIData(data)
		_ = nfsOptions(data)
		if img, err := parseRBDData(volID, data); err == nil && !isVolumeFileName(img.image, volID) {
			t.Fatalf("accepted RBD image %q for volume %s", img.image, volID)
		}
	})
}
