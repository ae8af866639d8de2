package cinder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingObserver keeps what a Client reports.
type recordingObserver struct {
	mu     sync.Mutex
	events []string
}

func (r *recordingObserver) add(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(f, a...))
}
func (r *recordingObserver) Request(service, method, path string, status int, _ time.Duration) {
	r.add("request %s %s %s %d", service, method, path, status)
}
func (r *recordingObserver) Retry(service string, status int, _ time.Duration) {
	r.add("retry %s %d", service, status)
}
func (r *recordingObserver) Wait(op, outcome string, _ time.Duration) {
	r.add("wait %s %s", op, outcome)
}
func (r *recordingObserver) Repair(kind string) { r.add("repair %s", kind) }

func (r *recordingObserver) has(e string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.events, e)
}

func TestObserverSeesRequestsWaitsRetriesAndIDs(t *testing.T) {
	f := newFakeOpenStack(t)
	obs := &recordingObserver{}
	c, err := NewClient(context.Background(), f.passwordConfig(), ClientOptions{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	c.pollInitial, c.pollMax, c.pollFloor = time.Millisecond, 5*time.Millisecond, time.Millisecond
	c.retry.baseDelay, c.retry.maxDelay = time.Millisecond, 5*time.Millisecond

	ctx, ids := WithRequestIDs(context.Background())
	f.inject("GET", "/volumes/", 503, "error_unavailable.json", 1, nil)
	v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "observed", SizeGiB: 1, VolumeType: "fast"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"request identity POST /identity/v3/auth/tokens 201",
		"request volume POST /volume/v3/{id}/volumes 202",
		"request volume GET /volume/v3/{id}/volumes/{id} 503",
		"retry volume 503",
		"wait create-volume done",
	} {
		if !obs.has(want) {
			t.Errorf("observer did not hear %q; heard %v", want, obs.events)
		}
	}
	got := ids()
	if len(got) < 3 || !strings.HasPrefix(got[0], "req-") {
		t.Errorf("request IDs = %v, want one per request of the create", got)
	}

	_ = c.DeleteVolume(context.Background(), v.ID)
	if !obs.has("wait delete-volume done") {
		t.Errorf("delete wait not heard: %v", obs.events)
	}
}

func TestPathTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"/v3/6b1d5c362d1f4a4b9d361b0c2f1e9a10/volumes/detail":                                      "/v3/{id}/volumes/detail",
		"/v3/6b1d5c362d1f4a4b9d361b0c2f1e9a10/volumes/6b1d5c36-2d1f-4a4b-9d36-1b0c2f1e9a10/action": "/v3/{id}/volumes/{id}/action",
		"/v2.1/servers/6b1d5c36-2d1f-4a4b-9d36-1b0c2f1e9a10/os-volume_attachments":                 "/v2.1/servers/{id}/os-volume_attachments",
		"/v3/auth/tokens":   "/v3/auth/tokens",
		"/v3/volumes/pvc-1": "/v3/volumes/pvc-1",
	} {
		if got := PathTemplate(in); got != want {
			t.Errorf("PathTemplate(%s) = %s, want %s", in, got, want)
		}
	}
}
