package node

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/test/e2e"
)

// refreshPeriod is the chart's nodeAllocatableUpdatePeriodSeconds in this bed.
const refreshPeriod = 10

// nodeGetInfoCalls reads the node plugin's /metrics (node.healthPort, on the host's
// network): how many NodeGetInfo calls it answered.
func nodeGetInfoCalls(ctx context.Context, t *testing.T) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:9810/metrics", nil)
	must(t, err)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "cinder_csi_operation_duration_seconds_count{") && strings.Contains(l, `method="/csi.v1.Node/NodeGetInfo"`) &&
			strings.Contains(l, `code="OK"`) {
			n, err := strconv.ParseFloat(l[strings.LastIndex(l, " ")+1:], 64)
			must(t, err)
			return int(n)
		}
	}
	must(t, sc.Err())
	t.Fatal("the node plugin's /metrics has no NodeGetInfo count")
	return 0
}

// allocatableRefreshed: the chart's CSIDriver carries nodeAllocatableUpdatePeriodSeconds
// (MutableCSINodeAllocatableCount, GA in 1.36), the real kubelet copies NodeGetInfo's
// count into CSINode's allocatable, and asks the node plugin again every period.
func (e *env) allocatableRefreshed(ctx context.Context, t *testing.T) {
	d, err := e.k.Get(ctx, "csidriver", driverName)
	must(t, err)
	if p := e2e.Field(d, "spec", "nodeAllocatableUpdatePeriodSeconds"); fmt.Sprint(p) != strconv.Itoa(refreshPeriod) {
		t.Errorf("CSIDriver %s: nodeAllocatableUpdatePeriodSeconds %v, want %d (the chart's value)", driverName, p, refreshPeriod)
	}
	n, err := e.k.Get(ctx, "csinode", nodeName)
	must(t, err)
	count := ""
	ds, _ := e2e.Field(n, "spec", "drivers").([]any)
	for _, x := range ds {
		if m, _ := x.(map[string]any); m["name"] == driverName {
			count = fmt.Sprint(e2e.Field(m, "allocatable", "count"))
		}
	}
	if count != "16" {
		t.Errorf("CSINode %s: allocatable count %s, want 16 (maxVolumesPerNode; the Cinder path counts no other disks)", nodeName, count)
	}
	before := nodeGetInfoCalls(ctx, t)
	wait := 3*refreshPeriod*time.Second + 5*time.Second
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(wait):
	}
	if got := nodeGetInfoCalls(ctx, t) - before; got < 2 {
		t.Errorf("kubelet asked NodeGetInfo %d times in %v, want at least 2 (every %d s)", got, wait, refreshPeriod)
	} else {
		t.Logf("kubelet asked NodeGetInfo %d times in %v (period %d s); CSINode allocatable count %s", got, wait, refreshPeriod, count)
	}
}
