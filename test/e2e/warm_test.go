package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// warmRuns is how many more claims and snapshots the e2e makes, one after the
// other, once the first of each kind is done: the controller learns a kind's
// schedule from its third wait (docs/waits.md), so the last of these is timed on a
// learned schedule, where the first figures are the cold start of a fresh
// controller.
const warmRuns = 3

var warmWhat = fmt.Sprintf("warm, %d more", warmRuns)

// warmTimings makes warmRuns claims like data, then warmRuns snapshots of data,
// each after the one before is done, deletes them all and returns the time of the
// last claim to Bound and of the last snapshot to ReadyToUse.
func (e *env) warmTimings(ctx context.Context, t *testing.T, pvcs, snapshots *Watch) (bound, ready time.Duration) {
	t.Helper()
	var pvs []string
	for i := 1; i <= warmRuns; i++ {
		name := fmt.Sprintf("warm-%d", i)
		bound = e.timeTo(ctx, t, pvcs, func() { must(t, e.k.Apply(ctx, pvc(name, "1Gi", ""))) }, name, "pvc/"+name+" Bound", phase("Bound"))
		pv, _ := e.pvOf(ctx, t, name)
		pvs = append(pvs, pv)
	}
	var snaps []string
	for i := 1; i <= warmRuns; i++ {
		name := fmt.Sprintf("warm-snap-%d", i)
		ready = e.timeTo(ctx, t, snapshots, func() { must(t, e.k.Apply(ctx, snapshot(name, "e2e-snapshot", "data"))) }, name, "volumesnapshot/"+name+" ready", readyToUse)
		snaps = append(snaps, name)
	}
	_, err := e.k.Run(ctx, "", append([]string{"delete", "--wait=false", "volumesnapshot"}, snaps...)...)
	must(t, err)
	for _, s := range snaps {
		must(t, e.k.WaitGone(ctx, 3*time.Minute, "volumesnapshot", s))
	}
	for i := 1; i <= warmRuns; i++ {
		_, err := e.k.Run(ctx, "", "delete", "--wait=false", "pvc", fmt.Sprintf("warm-%d", i))
		must(t, err)
	}
	for _, pv := range pvs {
		must(t, e.k.WaitGone(ctx, 3*time.Minute, "pv", pv))
	}
	return bound, ready
}
