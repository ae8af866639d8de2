package cinder

import (
	"context"
	"net/url"
	"testing"
)

// The index reads only the volumes that can hold an attachment: an available
// volume is not in its listing, and an attached one is found in every state an
// attached volume can pass through.
func TestAttachedListingSkipsAvailableVolumes(t *testing.T) {
	for _, state := range attachedStatuses {
		t.Run(state, func(t *testing.T) {
			f, c, vol := attachFixture(t)
			ctx := context.Background()
			_, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "idle", SizeGiB: 1})
			if err != nil {
				t.Fatal(err)
			}
			cinder := c.CinderAttacher()
			if _, err := cinder.Attach(ctx, c.known(vol), Node{ID: "node-a"}); err != nil {
				t.Fatal(err)
			}
			f.do(func() { f.volumes[vol]["status"], f.requests = state, nil })

			ids, err := cinder.AttachedVolumes(ctx, "node-a", true)
			if err != nil || len(ids) != 1 || ids[0] != vol {
				t.Errorf("AttachedVolumes with the volume %s = %v, %v; want [%s]", state, ids, err, vol)
			}
			reqs := f.recordedRequests()
			if len(reqs) != 1 {
				t.Fatalf("the listing made %d requests, want 1", len(reqs))
			}
			q, _ := url.ParseQuery(reqs[0].Query)
			if got, want := q.Get("status"), statusIn(attachedStatuses); got != want {
				t.Errorf("listing status filter %q, want %q", got, want)
			}
			if match := statusMatcher(q.Get("status")); match(StatusAvailable) || !match(state) {
				t.Errorf("filter %q: available %v, %s %v", q.Get("status"), match(StatusAvailable), state, match(state))
			}
		})
	}
}

func TestStatusIn(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{StatusInUse}, `["in-use"]`},
		{[]string{StatusReserved, StatusAttaching}, `["reserved","attaching"]`},
	} {
		if got := statusIn(tc.in); got != tc.want {
			t.Errorf("statusIn(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
