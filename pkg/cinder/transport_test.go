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
			name: "DELETE 502 then success", method: "DELETE", path: "/snapshots/", status: 502, failures: 1, wantCalls: 2,
			call: func(c *Client) error { return c.DeleteSnapshot(context.Background(), "s-1") }, // 404 after: not an error
		},
		{
			name: "POST 503 is not retried", method: "POST", path: "/volumes", status: 503, failures: 1, wantCalls: 1,
			call: func(c *Client) error {
				_, err := c.CreateVolume(context.Background(), CreateVolumeOpts{Name: "x", SizeGiB: 1})
				return err
			},
			want: ErrUnavailable,
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
	rt := newRetryTransport(http.DefaultTransport)
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
