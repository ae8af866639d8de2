package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cinder-csi/cinder-csi-driver/pkg/metrics"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// A failed NodeStageVolume is counted by filesystem and by what went wrong.
func TestNodeFailureMetrics(t *testing.T) {
	tests := []struct {
		err  error
		kind string
	}{
		{fmt.Errorf("%w: e2fsck exit 4", mount.ErrFilesystemCorrupt), "fsck"},
		{fmt.Errorf("%w: mkfs.ext4 failed", mount.ErrFormatFailed), "format"},
		{fmt.Errorf("%w: /dev/vdb is gone", mount.ErrDeviceNotFound), "device-not-found"},
		{fmt.Errorf("%w: holds xfs", mount.ErrFilesystemMismatch), "fs-mismatch"},
		{errors.New("mount: permission denied"), "mount"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			d, m, _ := newTestNode(t)
			reg := prometheus.NewRegistry()
			d.deps.Metrics = metrics.New(reg, metrics.Build{Mode: ModeNode})
			m.mountErr = tt.err
			_, err := d.NodeStageVolume(context.Background(), &csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: "/s",
				VolumeCapability: mountCap(), PublishContext: cinderPC()})
			if err == nil {
				t.Fatal("stage succeeded")
			}
			want := fmt.Sprintf(`
# HELP cinder_csi_node_failures_total Node operations that failed, by operation, filesystem and kind.
# TYPE cinder_csi_node_failures_total counter
cinder_csi_node_failures_total{fs_type="ext4",kind=%q,operation="stage"} 1
`, tt.kind)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cinder_csi_node_failures_total"); err != nil {
				t.Error(err)
			}
			if n := testutil.CollectAndCount(reg, "cinder_csi_node_device_discovery_seconds"); n != 1 {
				t.Errorf("device discovery not timed")
			}
		})
	}
}
