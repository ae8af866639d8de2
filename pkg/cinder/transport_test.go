package cinder

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryIdempotentRequests(t *testing.T) {
	tests := []struct {
		name      string
		call      func(c *Client) error
		method    string
		path      string
		status    int
		header    map[string]string
		failures  int
		wantCalls int
		want      error
	}{
		{
			name: "GET 503 then success", method: "GET", path: "/limits", status: 503, failures: 1, wantCalls: 2,
			call: func(c *Client) error { _, err := c.GetLimits(context.Background()); return err },
		},
		{
			name: "GET 429 with Retry-After then success", method: "GET", path: "/limits", status: 429, failures: 2, wantCalls: 3,
			header: map[string]string{"Retry-After": "0"},
			call:   func(c *Client) error { _, err := c.GetLimits(context.Background()); return err },
		},
		{
			name: "GET 503 past the retries", method: "GET", path: "/limits", status: 503, failures: 10, wantCalls: 5,
			call: func(c *Client) error { _, err := c.GetLimits(context.Background()); return err },
			want: ErrUnavailable,
		},
		{
			name: "DELETE 502 then success", method: "DELETE", path: "/volumes/", status: 502, failures: 1, wantCalls: 2,
			call: func(c *Client) error {
				v, err := c.CreateVolume(context.Background(), CreateVolumeOpts{Name: "d", SizeGiB: 1})
				if err != nil {
					return err
				}
				return c.DeleteVolume(context.Background(), v.ID)
			},
		},
		{
			// The transport does not resend a POST; the create's own retry checks by
			// name that nothing was made, then sends it once more.
			name: "POST 503 before the create", method: "POST", path: "/volumes", status: 503, failures: 1, wantCalls: 2,
			call: func(c *Client) error {
				_, err := c.CreateVolume(context.Background(), CreateVolumeOpts{Name: "x", SizeGiB: 1})
				return err
			},
		},
		{
			name: "POST 503 past the create retries", method: "POST", path: "/volumes", status: 503, failures: 10, wantCalls: createTries,
			call: func(c *Client) error {
				_, err := c.CreateVolume(context.Background(), CreateVolumeOpts{Name: "x", SizeGiB: 1})
				return err
			},
			want: ErrUnavailable,
		},
		{
			name: "POST 429 with Retry-After is resent", method: "POST", path: "/volumes", status: 429, failures: 2, wantCalls: 3,
			header: map[string]string{"Retry-After": "0"},
			call: func(c *Client) error {
				_, err := c.CreateVolume(context.Background(), CreateVolumeOpts{Name: "y", SizeGiB: 1})
				return err
			},
		},
		{
			name: "GET 400 is not retried", method: "GET", path: "/limits", status: 400, failures: 1, wantCalls: 1,
			call: func(c *Client) error { _, err := c.GetLimits(context.Background()); return err },
			want: ErrInvalidInput,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOpenStack(t)
			c := f.client(t)
			before := f.calls(tc.method, tc.path)
			fixture := "error_unavailable.json"
			if tc.status == 400 {
				fixture = "error_bad_request.json"
			}
			f.inject(tc.method, tc.path, tc.status, fixture, tc.failures, tc.header)
			err := tc.call(c)
			if tc.want == nil && err != nil {
				t.Fatalf("call failed: %v", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if got := f.calls(tc.method, tc.path) - before; got != tc.wantCalls {
				t.Errorf("%d %s requests, want %d", got, tc.method, tc.wantCalls)
			}
		})
	}
}

func TestRetryBoundedByContext(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	rt := newRetryTransport(http.DefaultTransport, noObserver{}, &services{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	start := time.Now()
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v: Retry-After must not outlive the context", d)
	}
	if calls.Load() != 1 {
		t.Errorf("%d calls, want 1 (the second waits 30s)", calls.Load())
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, true},
	}
	for _, tc := range tests {
		got, ok := retryAfter(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestCreateAfterLostAnswerMakesNoDuplicate: Cinder made the volume (or snapshot, or
// backup) but the answer was lost; the retry adopts it instead of creating another.
func TestCreateAfterLostAnswerMakesNoDuplicate(t *testing.T) {
	ctx := context.Background()
	f := newFakeOpenStack(t)
	c := f.client(t)
	f.injectAfter("POST", "/volumes", http.StatusInternalServerError, 1)
	v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "pvc-lost", SizeGiB: 1})
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	found, _ := c.FindVolumesByName(ctx, "pvc-lost")
	if len(found) != 1 || found[0].ID != v.ID {
		t.Fatalf("volumes named pvc-lost: %+v; want exactly the one returned (%s)", found, v.ID)
	}
	if n := f.calls("POST", "/volumes"); n != 1 {
		t.Errorf("%d volume POSTs, want 1", n)
	}
	f.injectAfter("POST", "/snapshots", http.StatusBadGateway, 1)
	s, err := c.CreateSnapshot(ctx, "snap-lost", v.ID, nil)
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	snaps, _, _ := c.ListSnapshots(ctx, SnapshotListOpts{Name: "snap-lost"})
	if len(snaps) != 1 || snaps[0].ID != s.ID {
		t.Fatalf("snapshots named snap-lost: %+v; want exactly %s", snaps, s.ID)
	}
	if n := f.calls("POST", "/snapshots"); n != 1 {
		t.Errorf("%d snapshot POSTs, want 1", n)
	}
	f.injectAfter("POST", "/backups", http.StatusServiceUnavailable, 1)
	b, err := c.CreateBackup(ctx, "backup-lost", v.ID, nil)
	if err != nil {
		t.Fatalf("CreateBackup: %v", err)
	}
	backups, _, _ := c.ListBackups(ctx, SnapshotListOpts{Name: "backup-lost"})
	if len(backups) != 1 || backups[0].ID != b.ID || !b.IsBackup {
		t.Fatalf("backups named backup-lost: %+v; want exactly %s (got %+v)", backups, b.ID, b)
	}
	if n := f.calls("POST", "/backups"); n != 1 {
		t.Errorf("%d backup POSTs, want 1: the lost answer's backup must be adopted, not made again", n)
	}
}

// The waits between tries: Retry-After when the server sends it (seconds or a date),
// else doubling from baseDelay up to maxDelay; 500 is retried for a GET like 503, but a
// POST is resent only after a 429.
func TestRetryWaits(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		status    int
		header    string
		failures  int
		wantWaits []time.Duration
	}{
		{"GET 503, no Retry-After", "GET", 503, "", 4, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}},
		{"GET 500 is retried", "GET", 500, "", 1, []time.Duration{500 * time.Millisecond}},
		{"GET 429 Retry-After 2", "GET", 429, "2", 2, []time.Duration{2 * time.Second, 2 * time.Second}},
		{"POST 429 Retry-After 7", "POST", 429, "7", 1, []time.Duration{7 * time.Second}},
		{"POST 500 is not resent", "POST", 500, "", 1, nil},
		{"DELETE 504, Retry-After in the past", "DELETE", 504, time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat), 1, []time.Duration{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if int(calls.Add(1)) <= tc.failures {
					if tc.header != "" {
						w.Header().Set("Retry-After", tc.header)
					}
					w.WriteHeader(tc.status)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			rt := newRetryTransport(http.DefaultTransport, noObserver{}, &services{})
			var waits []time.Duration
			rt.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			req, _ := http.NewRequest(tc.method, srv.URL, nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(waits) != len(tc.wantWaits) {
				t.Fatalf("waits %v, want %v", waits, tc.wantWaits)
			}
			for i := range waits {
				if waits[i] != tc.wantWaits[i] {
					t.Errorf("wait %d = %v, want %v", i, waits[i], tc.wantWaits[i])
				}
			}
		})
	}
}
