package driver

import (
	"context"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
)

// Volume health as Cinder shows it: an error state is INACCESSIBLE, a transition older
// than stuckAfter is DEGRADED, a fresh one and a healthy volume are not reported.
func TestVolumeHealth(t *testing.T) {
	ctx := context.Background()
	d, cloud := newTestController(t, fakeOpts())
	tests := []struct {
		name    string
		status  string
		since   time.Duration // how long the volume has been in status
		want    csi.VolumeHealthErrorType
		healthy bool
	}{
		{name: "available", status: cinder.StatusAvailable, healthy: true},
		{name: "in error", status: "error", want: csi.VolumeHealthErrorType_INACCESSIBLE},
		{name: "error_extending", status: cinder.StatusErrorExtending, want: csi.VolumeHealthErrorType_INACCESSIBLE},
		{name: "attaching for a minute", status: cinder.StatusAttaching, since: time.Minute, healthy: true},
		{name: "attaching for ten minutes", status: cinder.StatusAttaching, since: 10 * time.Minute, want: csi.VolumeHealthErrorType_DEGRADED},
		{name: "detaching for ten minutes", status: cinder.StatusDetaching, since: 10 * time.Minute, want: csi.VolumeHealthErrorType_DEGRADED},
	}
	abnormal := map[string]csi.VolumeHealthErrorType{}
	for _, tt := range tests {
		id := mustCreate(t, d, "health-"+tt.name)
		cloud.SetVolumeStatusSince(id, tt.status, time.Now().Add(-tt.since))
		got, err := d.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{VolumeId: id})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		st := got.GetVolumeHealth().GetHealthStatuses()
		switch {
		case tt.healthy && len(st) != 0:
			t.Errorf("%s: reported %v, want healthy", tt.name, st)
		case !tt.healthy && (len(st) != 1 || st[0].GetStatus() != tt.want || st[0].GetMessage() == ""):
			t.Errorf("%s: reported %v, want one %s entry with a message", tt.name, st, tt.want)
		}
		if !tt.healthy {
			abnormal[id] = tt.want
		}
	}
	// The list holds the abnormal volumes only, over every page.
	seen := map[string]csi.VolumeHealthErrorType{}
	token := ""
	for pages := 0; ; pages++ {
		resp, err := d.ControllerListVolumeHealth(ctx, &csi.ControllerListVolumeHealthRequest{MaxEntries: 2, StartingToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEntries() {
			if len(e.GetHealthStatuses()) == 0 {
				t.Errorf("healthy volume %s listed", e.GetVolumeId())
			} else {
				seen[e.GetVolumeId()] = e.GetHealthStatuses()[0].GetStatus()
			}
		}
		if token = resp.GetNextToken(); token == "" || pages > 10 {
			break
		}
	}
	if len(seen) != len(abnormal) {
		t.Errorf("listed %v, want %v", seen, abnormal)
	}
	for id, want := range abnormal {
		if seen[id] != want {
			t.Errorf("volume %s listed as %v, want %v", id, seen[id], want)
		}
	}
	_, err := d.ControllerGetVolumeHealth(ctx, &csi.ControllerGetVolumeHealthRequest{VolumeId: "not-a-uuid"})
	wantCode(t, err, codes.NotFound)
}
