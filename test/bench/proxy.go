package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// countingProxy stands between a client and the OpenStack APIs on loopback and
// counts every request by service: the same counter for the driver (another
// process) and for the direct baseline, so both pay the same hop and are counted
// the same way. One listener serves every API: /p<port>/... goes to
// 127.0.0.1:<port>/..., and every loopback URL in an answer (Keystone's catalog,
// version documents, next links) is rewritten to go through it too.
type countingProxy struct {
	base string // http://127.0.0.1:<port>
	ln   net.Listener
	srv  *http.Server
	// names the service of each upstream port, for the counters.
	names map[string]string

	mu     sync.Mutex
	counts map[string]int // "<service>" and "<service> GET"
}

var loopbackURL = regexp.MustCompile(`http://127\.0\.0\.1:(\d+)`)

func newCountingProxy(names map[string]string) (*countingProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{base: "http://" + ln.Addr().String(), ln: ln, names: names, counts: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			port, rest := splitPrefix(r.In.URL.Path)
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "127.0.0.1:"+port
			r.Out.URL.Path, r.Out.URL.RawPath = rest, ""
			r.Out.Host = "127.0.0.1:" + port
		},
		ModifyResponse: p.rewriteBody,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		port, _ := splitPrefix(r.URL.Path)
		if _, err := strconv.Atoi(port); err != nil {
			http.Error(w, "no upstream in "+r.URL.Path, http.StatusBadGateway)
			return
		}
		p.count(port, r.Method)
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// splitPrefix splits "/p8776/v3/x" into "8776" and "/v3/x".
func splitPrefix(path string) (port, rest string) {
	path = strings.TrimPrefix(path, "/p")
	port, rest, _ = strings.Cut(path, "/")
	return port, "/" + rest
}

// via is the proxied form of a loopback URL.
func (p *countingProxy) via(u string) string {
	return loopbackURL.ReplaceAllString(u, p.base+"/p$1")
}

func (p *countingProxy) rewriteBody(resp *http.Response) error {
	if loc := resp.Header.Get("Location"); loc != "" {
		resp.Header.Set("Location", p.via(loc))
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	body = loopbackURL.ReplaceAll(body, []byte(p.base+"/p$1"))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

func (p *countingProxy) count(port, method string) {
	name := p.names[port]
	if name == "" {
		name = "port " + port
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[name]++
	if method == http.MethodGet {
		p.counts[name+" GET"]++
	}
}

// snapshot returns the counters so far.
func (p *countingProxy) snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// apiCalls is what happened between two snapshots: Cinder and Nova requests, and
// the GETs among them (Keystone's token requests are left out: a token serves
// many operations).
type apiCalls struct{ calls, gets int }

func callsBetween(a, b map[string]int) apiCalls {
	var c apiCalls
	for _, s := range []string{"volume", "compute"} {
		c.calls += b[s] - a[s]
		c.gets += b[s+" GET"] - a[s+" GET"]
	}
	return c
}

func (p *countingProxy) close() { _ = p.srv.Close() }

// portOf returns the port of a loopback URL.
func portOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Hostname() != "127.0.0.1" || u.Port() == "" {
		return "", fmt.Errorf("%s is not a loopback URL with a port", raw)
	}
	return u.Port(), nil
}
