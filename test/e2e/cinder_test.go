package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cinder-csi/cinder-csi-driver/test/internal/inventory"
	"github.com/cinder-csi/cinder-csi-driver/test/internal/testbed"
)

// The Cinder side: what the cloud holds, and Cinder's own time for each operation
// (bare API calls with 50 ms polls), the yardstick of the timing summary.

// inventory is every volume, snapshot, backup and attachment in the project.
func (e *env) inventory(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	inv, err := inventory.Inventory(ctx, e.cloud)
	must(t, err)
	return inv
}

// checkNothingLeft waits up to a minute for everything made since before to go.
func (e *env) checkNothingLeft(ctx context.Context, t *testing.T, before map[string]string) {
	t.Helper()
	left, err := inventory.Leftovers(ctx, e.cloud, before, time.Minute)
	must(t, err)
	if len(left) > 0 {
		t.Errorf("left in Cinder after every Kubernetes object was deleted: %s", strings.Join(left, ", "))
	}
}

// stack is the yardsticks' own warmed Cinder client, made once.
func (e *env) stack(ctx context.Context, t *testing.T) *testbed.Yardstick {
	t.Helper()
	if e.yardstick == nil {
		y, err := testbed.NewYardstick(ctx, "local")
		must(t, err)
		e.yardstick = y
	}
	return e.yardstick
}

func (e *env) cinderCreate(ctx context.Context, t *testing.T) time.Duration {
	took, err := e.stack(ctx, t).Create(ctx)
	must(t, err)
	return took
}

func (e *env) cinderAttach(ctx context.Context, t *testing.T) time.Duration {
	took, err := e.stack(ctx, t).Attach(ctx)
	must(t, err)
	return took
}

func (e *env) cinderSnapshot(ctx context.Context, t *testing.T, volumeID string) time.Duration {
	took, err := e.stack(ctx, t).Snapshot(ctx, volumeID)
	must(t, err)
	return took
}
