package driver

import (
	"context"
	"errors"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

type otherDisks struct {
	n   int
	err error
}

func (o otherDisks) Others() (int, []string, error) { return o.n, make([]string, o.n), o.err }

// NodeGetInfo reports the attach slots left to the driver: kubelet copies the number
// into CSINode's allocatable count, which the scheduler counts this driver's volumes
// against.
func TestNodeGetInfoAttachSlots(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		others *otherDisks
		want   int64
	}{
		{name: "no counter (Cinder path)", limit: 26, want: 26},
		{name: "root disk and config drive", limit: 26, others: &otherDisks{n: 2}, want: 24},
		{name: "none other", limit: 26, others: &otherDisks{}, want: 26},
		{name: "others take every slot: 1, never 0 (no limit)", limit: 3, others: &otherDisks{n: 5}, want: 1},
		{name: "counting fails: the whole limit", limit: 26, others: &otherDisks{n: 4, err: errors.New("no sysfs")}, want: 26},
		{name: "no limit stays none", limit: 0, others: &otherDisks{n: 2}, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _, _ := newTestNode(t)
			d.deps.MaxVolumesPerNode = tc.limit
			if tc.others != nil {
				d.deps.OtherDisks = *tc.others
			}
			info, err := d.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if info.GetMaxVolumesPerNode() != tc.want {
				t.Errorf("max_volumes_per_node = %d, want %d", info.GetMaxVolumesPerNode(), tc.want)
			}
		})
	}
}
