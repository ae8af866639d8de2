package driver

import (
	"context"
	"fmt"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder/fake"
)

// BenchmarkCreateVolumeRetry measures the provisioner's retry of a CreateVolume that
// already succeeded (validate, lock, look up by name, answer): the path every
// sidecar retry takes, which must stay cheap next to a real create.
func BenchmarkCreateVolumeRetry(b *testing.B) {
	cloud := fake.New(fake.Options{})
	d, err := New(Options{Endpoint: "unix:///tmp/b.sock", Mode: ModeController, Attacher: AttacherCinder, DriverName: DefaultDriverName,
		WithTopology: true, MetadataURL: "http://127.0.0.1:1", MetadataSearchOrder: "metadataService"},
		Deps{Cloud: cloud, Attacher: cloud.CinderAttacher()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ { // a project with some volumes
		if _, err := d.CreateVolume(context.Background(), createReq(fmt.Sprintf("other-%d", i), 1, nil)); err != nil {
			b.Fatal(err)
		}
	}
	req := createReq("pvc-bench", 1, map[string]string{"type": "fast", keyPVCName: "data"})
	if _, err := d.CreateVolume(context.Background(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.CreateVolume(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateCreateVolume measures request validation alone.
func BenchmarkValidateCreateVolume(b *testing.B) {
	d := &Driver{opts: Options{WithTopology: true}}
	req := createReq("pvc-bench", 3, map[string]string{"type": "fast", "mkfsOptions": "-E nodiscard", keyPVCName: "data"})
	req.AccessibilityRequirements = &csi.TopologyRequirement{Preferred: []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: "az1"}}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := d.validateCreateVolume(req); err != nil {
			b.Fatal(err)
		}
	}
}
