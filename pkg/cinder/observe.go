package cinder

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Observer hears what the client does, for metrics (pkg/metrics implements it).
// Every label it is given is bounded: a service, an HTTP method, a path template
// with IDs collapsed, a status, an operation kind, an outcome, a repair kind.
type Observer interface {
	// Request is one HTTP attempt: status 0 when no answer came.
	Request(service, method, path string, status int, took time.Duration)
	// Retry is the transport trying again after status (0: a network error),
	// waiting wait first (Retry-After on a 429).
	Retry(service string, status int, wait time.Duration)
	// Wait is a status wait that ended: outcome done, failed (an error state or
	// a failed check) or deadline.
	Wait(operation, outcome string, took time.Duration)
	// Repair is something broken the client cleaned up (RepairStuckAttachment, ...).
	Repair(kind string)
}

// Repair kinds.
const (
	RepairStuckAttachment = "stuck-attachment"
	RepairFailedVolume    = "failed-volume"
	RepairErrorExtending  = "error-extending-reset"
	RepairDuplicate       = "duplicate"
)

// RepairKinds are the repair kinds the client reports.
var RepairKinds = []string{RepairStuckAttachment, RepairFailedVolume, RepairErrorExtending, RepairDuplicate}

// The services a request is told apart by.
const (
	ServiceIdentity = "identity"
	ServiceVolume   = "volume"
	ServiceCompute  = "compute"
)

// Services are the services the client talks to.
var Services = []string{ServiceIdentity, ServiceVolume, ServiceCompute}

// Wait outcomes.
const (
	WaitDone     = "done"
	WaitFailed   = "failed"
	WaitDeadline = "deadline"
)

type noObserver struct{}

func (noObserver) Request(string, string, string, int, time.Duration) {}
func (noObserver) Retry(string, int, time.Duration)                   {}
func (noObserver) Wait(string, string, time.Duration)                 {}
func (noObserver) Repair(string)                                      {}

// services names the service of a request URL from the endpoints the client found
// (volume, compute); anything else it talks to is Keystone (identity).
type services struct {
	prefixes atomic.Pointer[map[string]string]
}

func (s *services) set(endpoints map[string]string) { s.prefixes.Store(&endpoints) }

func (s *services) of(r *http.Request) string {
	if m := s.prefixes.Load(); m != nil {
		u := r.URL.String()
		for prefix, name := range *m {
			if prefix != "" && strings.HasPrefix(u, prefix) {
				return name
			}
		}
	}
	return ServiceIdentity
}

// idSegment matches a path segment that is an ID: a UUID, or the 32 hex digits of a
// Keystone project or user.
var idSegment = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$`)

// PathTemplate is the path with every ID segment replaced by {id}, without the
// query: a bounded label for a request ("/v3/{id}/volumes/{id}/action").
func PathTemplate(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if idSegment.MatchString(s) {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}

// observedTransport reports every attempt to the observer and collects the
// OpenStack request IDs of the answers into the request's context (WithRequestIDs).
type observedTransport struct {
	next     http.RoundTripper
	obs      Observer
	services *services
}

func (t *observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	code := 0
	if err == nil {
		code = resp.StatusCode
		if ids, ok := req.Context().Value(requestIDsKey{}).(*requestIDs); ok {
			ids.add(resp.Header)
		}
	}
	t.obs.Request(t.services.of(req), req.Method, PathTemplate(req.URL.Path), code, time.Since(start))
	return resp, err
}

type requestIDsKey struct{}

// requestIDs collects the x-openstack-request-id (and Nova's x-compute-request-id)
// of every answer an operation caused.
type requestIDs struct {
	mu  sync.Mutex
	ids []string
}

// maxRequestIDs bounds what one operation collects (a long wait polls many times).
const maxRequestIDs = 32

func (r *requestIDs) add(h http.Header) {
	id := h.Get("X-Openstack-Request-Id")
	if id == "" {
		id = h.Get("X-Compute-Request-Id")
	}
	if id == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) < maxRequestIDs {
		r.ids = append(r.ids, id)
	}
}

// WithRequestIDs returns a context whose OpenStack requests record their request
// IDs, and the function that returns them so far: what lets an operator find the
// same operation in Cinder's and Nova's logs.
func WithRequestIDs(ctx context.Context) (context.Context, func() []string) {
	r := &requestIDs{}
	return context.WithValue(ctx, requestIDsKey{}, r), func() []string {
		r.mu.Lock()
		defer r.mu.Unlock()
		return append([]string(nil), r.ids...)
	}
}

// kindLabel is the bounded operation label of a wait kind: its refinements (volume
// type, source) dropped.
func kindLabel(kind string) string {
	k, _, _ := strings.Cut(kind, "/")
	return k
}
