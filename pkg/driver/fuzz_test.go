package driver

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
)

func fakeOpts() fake.Options { return fake.Options{} }

// FuzzCheckID: whatever is accepted as an ID is safe to put in a URL path or a file
// name, and everything rejected gets a gRPC status.
func FuzzCheckID(f *testing.F) {
	for _, s := range []string{"", volID, "../../etc/passwd", "6b1d5c36-2d1f-4a4b-9d36-1b0c2f1e9a1", "6B1D5C36-2D1F-4A4B-9D36-1B0C2F1E9A10", "a?b=c", "x\x00y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := checkID("volume_id", id)
		if err == nil {
			if strings.ContainsAny(id, "/?#%.\x00 ") || len(id) != 36 {
				t.Fatalf("accepted unsafe ID %q", id)
			}
			return
		}
		if c := status.Code(err); c != codes.InvalidArgument && c != codes.NotFound {
			t.Fatalf("ID %q: code %s", id, c)
		}
	})
}

// FuzzCheckPath: accepted paths are absolute and clean.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/var/lib/kubelet/x", "relative", "/a/../b", "/a//b", "/a/", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if err := checkPath("target_path", p); err == nil {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || strings.ContainsRune(p, 0) {
				t.Fatalf("accepted path %q", p)
			}
		} else if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("path %q: code %s", p, status.Code(err))
		}
	})
}

// FuzzVolumeParams: parsing never panics; accepted mkfs options carry no shell or path
// syntax; errors are InvalidArgument.
func FuzzVolumeParams(f *testing.F) {
	f.Add("type", "fast", "mkfsOptions", "-E nodiscard -b 4096")
	f.Add("availability", "nova", "csi.storage.k8s.io/pvc/name", "data")
	f.Add("iops", "3", "mkfsOptions", "$(reboot)")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		p, err := parseVolumeParams(map[string]string{k1: v1, k2: v2})
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code %s", status.Code(err))
			}
			return
		}
		for _, o := range p.mkfsOptions {
			if strings.ContainsAny(o, "$`;|&/ \t\n<>") {
				t.Fatalf("accepted mkfs option %q", o)
			}
		}
	})
}

// FuzzCapacity: an accepted range yields a size inside it, in whole GiB.
func FuzzCapacity(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(1), int64(0))
	f.Add(gib, gib)
	f.Add(gib+1, 2*gib)
	f.Add(int64(-1), int64(5))
	f.Fuzz(func(t *testing.T, req, lim int64) {
		n, err := sizeGiB(&csi.CapacityRange{RequiredBytes: req, LimitBytes: lim}, 1)
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.OutOfRange {
				t.Fatalf("code %s", c)
			}
			return
		}
		size := int64(n) * gib
		if n < 1 || size < req || (lim > 0 && size > lim) {
			t.Fatalf("range [%d, %d] gave %d GiB", req, lim, n)
		}
	})
}

// FuzzSnapshotParams never panics and only accepts the documented keys.
func FuzzSnapshotParams(f *testing.F) {
	f.Add("type", "backup")
	f.Add("type", "Snapshot")
	f.Add("csi.storage.k8s.io/volumesnapshot/name", "s")
	f.Fuzz(func(t *testing.T, k, v string) {
		if _, err := parseSnapshotParams(map[string]string{k: v}); err == nil &&
			k != "type" && !strings.HasPrefix(k, "csi.storage.k8s.io/") {
			t.Fatalf("accepted parameter %q", k)
		}
	})
}

// FuzzGroupSnapshotParams: a VolumeGroupSnapshotClass parameter is accepted only if
// it is one the driver knows, with a consistency it knows, and the parse then says
// which consistency it asks for.
func FuzzGroupSnapshotParams(f *testing.F) {
	f.Add("consistency", "per-volume")
	f.Add("groupType", "csi-generic")
	f.Add("csi.storage.k8s.io/volumegroupsnapshot/name", "g")
	f.Fuzz(func(t *testing.T, k, v string) {
		p, err := parseGroupSnapshotParams(map[string]string{k: v})
		if err != nil {
			return
		}
		if k != paramGroupType && k != paramConsistency && !strings.HasPrefix(k, "csi.storage.k8s.io/") {
			t.Fatalf("accepted parameter %q", k)
		}
		if p.consistency != consistencyWriteOrder && p.consistency != consistencyPerVolume ||
			k == paramConsistency && p.consistency != v {
			t.Fatalf("%q=%q parsed to consistency %q", k, v, p.consistency)
		}
	})
}

// FuzzNodeHandover: the node's reading of a publish context (attach path,
// connection data and sealed credentials from the VolumeAttachment) never panics,
// answers a bad one with InvalidArgument or FailedPrecondition, hands the Cinder
// path's locator a volume type and a JSON object, and opens sealed credentials only
// for the volume they were sealed for.
func FuzzNodeHandover(f *testing.F) {
	s, err := newSealer([]byte(testPublishKey))
	if err != nil {
		f.Fatal(err)
	}
	good, err := s.seal(volID, map[string]any{"auth_password": "p"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(AttacherCinder, "iscsi", `{"target_iqn":"iqn.x"}`, good)
	f.Add(AttacherCinder, "file", `{}`, "")
	f.Add(AttacherNova, "", `not json`, good)
	f.Add("", "rbd", `{"a":1}`, "AAAA")
	f.Add("other", "file", `null`, "")
	d := &Driver{sealer: s}
	f.Fuzz(func(t *testing.T, attacher, volumeType, data, sealed string) {
		pc := map[string]string{pcAttacher: attacher, pcDriverVolumeType: volumeType, pcConnectionData: data}
		if sealed != "" {
			pc[pcSealedConnectionData] = sealed
		}
		h, err := parsePublishContext(pc)
		if err == nil {
			h, err = d.unsealConnection(volID, h)
		}
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.FailedPrecondition {
				t.Fatalf("code %s for a bad publish context: %v", c, err)
			}
			return
		}
		if h.attacher == AttacherCinder && (h.att.DriverVolumeType == "" || h.att.Data == nil) {
			t.Fatalf("the Cinder path was handed %+v", h.att)
		}
		if sealed != "" {
			// What opened is bound to this volume: another volume's context refuses it.
			again, _ := parsePublishContext(pc)
			if _, err := d.unsealConnection("0c6e0a1f-7d3b-4e52-8a61-3f2b9d4c5e70", again); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("a sealed value opened for another volume too: %v", err)
			}
		}
		if h.sealed != "" {
			t.Fatal("the sealed field reached the connector")
		}
	})
}

// FuzzNodeID: any node_id is refused or taken without a panic, and only with a host
// name; one taken for a publish with a key is exactly what CinderNodeID makes of the
// node it names, so nothing else passes.
func FuzzNodeID(f *testing.F) {
	for _, s := range []string{"node-1", "node-1;192.0.2.7;iqn.1993-08.org.debian:01:ab;AAAAAAAAAAAAAAAAAAAAAA", "a;;;", ";;", "n;::1;;x"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	signed, _ := CinderNodeID([]byte(testPublishKey), testIdentity)
	f.Add(signed, true)
	f.Fuzz(func(t *testing.T, nodeID string, publish bool) {
		d := &Driver{opts: Options{Attacher: AttacherCinder}, nodeKey: []byte(testPublishKey)}
		n, err := d.nodeOf(nodeID, publish)
		if err == nil && !hostRE.MatchString(n.ID) {
			t.Errorf("nodeOf took %q with host %q, which is not a host name", nodeID, n.ID)
		}
		if err != nil || !publish || !strings.Contains(nodeID, nodeIDSep) {
			return
		}
		want, werr := CinderNodeID([]byte(testPublishKey), NodeIdentity{ID: n.ID, IP: n.IP, Initiator: n.Initiator})
		if werr != nil || want != nodeID {
			t.Errorf("nodeOf took %q as %+v, but that node's ID is %q (%v)", nodeID, n, want, werr)
		}
	})
}
