package cinder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeOpenStack is an httptest server on 127.0.0.1 that answers like Keystone v3,
// Cinder v3 and Nova v2.1, with real response shapes from testdata/. State
// transitions (creating → available, reserved → in-use, ...) complete after a
// few GETs of the volume, so the client's polling is exercised.
type fakeOpenStack struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	seq         int
	volumes     map[string]map[string]any
	order       []string // volume IDs, oldest first
	snapshots   map[string]map[string]any
	backups     map[string]map[string]any
	attachments map[string]*fakeAttachment
	// groups and groupSnapshots: fakegroups_test.go.
	groups         map[string]map[string]any
	groupSnapshots map[string]map[string]any
	servers        map[string]bool
	pending        map[string]*transition // by volume ID
	requests       []recorded
	injections     []*injection

	// Knobs, set before use.
	noCompute       bool
	createStatus    string // what a created volume becomes; default available
	transitionPolls int    // GETs of a volume before its transition completes
	novaAttachFails bool
	// groupStatus and groupSnapshotStatus are what new ones become (available).
	groupStatus, groupSnapshotStatus string
}

type transition struct {
	polls int
	apply func(v map[string]any)
}

type recorded struct {
	Method, Path, Query, Microversion, Token string
	Body                                     map[string]any
}

// injection forces the next answers to a request: status and fixture body.
type injection struct {
	method, pathContains string
	status               int
	fixture              string
	header               map[string]string
	times                int
	// after makes the fake do the request first and fail the answer, as a proxy
	// timing out on a create that did happen.
	after bool
}

const testProject = "8c2d3e4f5a6b4c7d8e9f0a1b2c3d4e5f"

func newFakeOpenStack(t *testing.T) *fakeOpenStack {
	t.Helper()
	f := &fakeOpenStack{
		t:                   t,
		volumes:             map[string]map[string]any{},
		snapshots:           map[string]map[string]any{},
		backups:             map[string]map[string]any{},
		attachments:         map[string]*fakeAttachment{},
		groups:              map[string]map[string]any{},
		groupSnapshots:      map[string]map[string]any{},
		groupStatus:         StatusAvailable,
		groupSnapshotStatus: StatusAvailable,
		servers:             map[string]bool{},
		pending:             map[string]*transition{},
		createStatus:        StatusAvailable,
		transitionPolls:     2,
	}
	f.srv = httptest.NewServer(f) // binds 127.0.0.1
	t.Cleanup(f.srv.Close)
	return f
}

// do runs fn with the fake's lock held: tests touch its state only through it,
// since the network gives the race detector no ordering with the handlers.
func (f *fakeOpenStack) do(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// volumeField reads one field of a stored volume.
func (f *fakeOpenStack) volumeField(id, key string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.volumes[id][key]
}

// inject makes the next `times` requests matching method and path answer status.
func (f *fakeOpenStack) inject(method, pathContains string, status int, fixture string, times int, header map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injections = append(f.injections, &injection{method: method, pathContains: pathContains, status: status, fixture: fixture, header: header, times: times})
}

// injectAfter fails the answer of the next times matching requests after doing them.
func (f *fakeOpenStack) injectAfter(method, pathContains string, status int, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injections = append(f.injections, &injection{method: method, pathContains: pathContains, status: status,
		fixture: "error_unavailable.json", times: times, after: true})
}

// calls counts the recorded requests with method whose path contains s.
func (f *fakeOpenStack) calls(method, s string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r.Method == method && strings.Contains(r.Path, s) {
			n++
		}
	}
	return n
}

func (f *fakeOpenStack) recordedRequests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

func (f *fakeOpenStack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)

	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, recorded{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body,
		Microversion: r.Header.Get("OpenStack-API-Version"), Token: r.Header.Get("X-Auth-Token"),
	})
	// As Cinder, Nova and Keystone do: one ID per request, in every answer.
	w.Header().Set("X-Openstack-Request-Id", fmt.Sprintf("req-%d", len(f.requests)))
	for _, inj := range f.injections {
		if inj.times > 0 && inj.method == r.Method && strings.Contains(r.URL.Path, inj.pathContains) {
			inj.times--
			if inj.after {
				f.handle(httptest.NewRecorder(), r, body)
			}
			for k, v := range inj.header {
				w.Header().Set(k, v)
			}
			f.writeError(w, inj.status, inj.fixture, "")
			return
		}
	}
	f.handle(w, r, body)
}

func (f *fakeOpenStack) handle(w http.ResponseWriter, r *http.Request, body map[string]any) {
	path := r.URL.Path
	switch {
	case path == "/identity/v3/auth/tokens" && r.Method == http.MethodPost:
		f.token(w, body)
	case strings.HasPrefix(path, "/volume/v3/"):
		// /volume/v3/{project}/{resource...}
		parts := strings.Split(strings.TrimPrefix(path, "/volume/v3/"), "/")
		f.cinder(w, r, parts[1:], body)
	case strings.HasPrefix(path, "/compute/v2.1/servers/"):
		parts := strings.Split(strings.TrimPrefix(path, "/compute/v2.1/servers/"), "/")
		f.nova(w, r, parts, body)
	default:
		f.writeError(w, http.StatusNotFound, "error_not_found.json", "The resource could not be found.")
	}
}

// token answers POST /v3/auth/tokens like Keystone: user demo / secret in the
// Default domain, or application credential ac-id / ac-secret.
func (f *fakeOpenStack) token(w http.ResponseWriter, body map[string]any) {
	identity := dig(body, "auth", "identity")
	methods, _ := identity["methods"].([]any)
	ok := false
	method := ""
	if len(methods) == 1 {
		method, _ = methods[0].(string)
	}
	switch method {
	case "password":
		user := dig(identity, "password", "user")
		domain := dig(user, "domain")
		ok = user["name"] == "demo" && user["password"] == "secret" &&
			(domain["name"] == "Default" || domain["id"] == "default")
	case "application_credential":
		ac := dig(identity, "application_credential")
		ok = ac["id"] == "ac-id" && ac["secret"] == "ac-secret"
	}
	if !ok {
		f.writeFixture(w, http.StatusUnauthorized, "keystone_unauthorized.json")
		return
	}
	data := strings.ReplaceAll(string(readFixture(f.t, "keystone_token.json")), "{{URL}}", f.srv.URL)
	var doc map[string]any
	must(f.t, json.Unmarshal([]byte(data), &doc))
	tok := doc["token"].(map[string]any)
	tok["methods"] = []any{method}
	if f.noCompute {
		var kept []any
		for _, e := range tok["catalog"].([]any) {
			if e.(map[string]any)["type"] != "compute" {
				kept = append(kept, e)
			}
		}
		tok["catalog"] = kept
	}
	w.Header().Set("X-Subject-Token", "tok-"+method)
	writeJSON(w, http.StatusCreated, doc)
}

// tick counts a GET of a volume toward its pending transition.
func (f *fakeOpenStack) tick(id string) {
	tr := f.pending[id]
	if tr == nil {
		return
	}
	tr.polls--
	if tr.polls <= 0 {
		delete(f.pending, id)
		for _, m := range []map[string]map[string]any{f.volumes, f.snapshots, f.backups} {
			if v := m[id]; v != nil {
				tr.apply(v)
			}
		}
	}
}

func (f *fakeOpenStack) later(id string, apply func(v map[string]any)) {
	f.pending[id] = &transition{polls: f.transitionPolls, apply: apply}
}

func (f *fakeOpenStack) newID() string {
	f.seq++
	return fmt.Sprintf("%08d-0000-4000-8000-%012d", f.seq, f.seq)
}

// template returns a fresh copy of a fixture's inner object ({"volume": {...}} → {...}).
func (f *fakeOpenStack) template(name, key string) map[string]any {
	var doc map[string]map[string]any
	must(f.t, json.Unmarshal(readFixture(f.t, name), &doc))
	return doc[key]
}

// writeError answers with an error fixture, replacing its message when msg is set.
func (f *fakeOpenStack) writeError(w http.ResponseWriter, status int, fixture, msg string) {
	var doc map[string]map[string]any
	must(f.t, json.Unmarshal(readFixture(f.t, fixture), &doc))
	for _, inner := range doc {
		if msg != "" {
			inner["message"] = msg
		}
		inner["code"] = status
	}
	writeJSON(w, status, doc)
}

func (f *fakeOpenStack) writeFixture(w http.ResponseWriter, status int, fixture string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(readFixture(f.t, fixture))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	must(t, err)
	return data
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// dig walks nested JSON objects; a missing step yields an empty map.
func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, _ := m[k].(map[string]any)
		if next == nil {
			return map[string]any{}
		}
		m = next
	}
	return m
}

// microversionAtLeast reports whether the request asked for volume microversion
// 3.minor or newer.
func microversionAtLeast(r *http.Request, minor int) bool {
	v := strings.TrimPrefix(r.Header.Get("OpenStack-API-Version"), "volume 3.")
	n, err := strconv.Atoi(v)
	return err == nil && n >= minor
}

// page applies Cinder's marker/limit paging to items (sorted by ID) and adds the
// "<kind>_links" next link when more remain.
func page(r *http.Request, kind string, items []map[string]any) map[string]any {
	sort.Slice(items, func(i, j int) bool { return items[i]["id"].(string) < items[j]["id"].(string) })
	q := r.URL.Query()
	if m := q.Get("marker"); m != "" {
		idx := -1
		for i, it := range items {
			if it["id"] == m {
				idx = i
			}
		}
		if idx < 0 {
			return nil
		}
		items = items[idx+1:]
	}
	out := map[string]any{kind: items}
	if l, _ := strconv.Atoi(q.Get("limit")); l > 0 && len(items) > l {
		items = items[:l]
		next := *r.URL
		nq := next.Query()
		nq.Set("marker", items[len(items)-1]["id"].(string))
		next.RawQuery = nq.Encode()
		out[kind] = items
		out[kind+"_links"] = []any{map[string]any{"rel": "next", "href": "http://" + r.Host + next.String()}}
	}
	if items == nil {
		out[kind] = []any{}
	}
	return out
}

// fastClient connects to f with fast polling and retries.
func (f *fakeOpenStack) fastClient(t *testing.T, cfg *Config) *Client {
	t.Helper()
	c, err := NewClient(context.Background(), cfg, ClientOptions{UserAgent: "cinder-csi-test"})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	c.pollInitial, c.pollMax, c.pollFloor, c.snapshotWait = time.Millisecond, 5*time.Millisecond, time.Millisecond, 50*time.Millisecond
	c.retry.baseDelay, c.retry.maxDelay = time.Millisecond, 5*time.Millisecond
	return c
}

func (f *fakeOpenStack) passwordConfig() *Config {
	return &Config{
		Source: "test", AuthURL: f.srv.URL + "/identity/v3", Username: "demo", Password: "secret",
		UserDomainName: "Default", ProjectName: "demo", ProjectDomainID: "default", Region: "RegionOne",
	}
}

// client returns a password-authenticated client with fast polling.
func (f *fakeOpenStack) client(t *testing.T) *Client {
	return f.fastClient(t, f.passwordConfig())
}
