package realcinder_test

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// chaosProxy stands between the driver and the real Cinder API on loopback and
// breaks a share of the requests at random, the way a load balancer, a restarting
// API or a busy cloud does:
//   - reset: the connection is closed with an RST before Cinder sees the request;
//   - 5xx: 500, 502 or 503 before Cinder sees it;
//   - lost: Cinder does it, the answer is replaced by a 502 (the dangerous one: a
//     create or an attachment that happened although the caller saw an error);
//   - 429: rate limited, with Retry-After: 1;
//   - latency: 50 to 400 ms before the request goes on.
type chaosProxy struct {
	proxy *httputil.ReverseProxy
	rate  float64 // share of requests broken (latency comes on top)

	mu     sync.Mutex
	rnd    *rand.Rand
	faults map[string]int // kind -> count
	seen   int
}

func newChaosProxy(target *url.URL, seed uint64, rate float64) *chaosProxy {
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a caller killed mid-request is the point
	return &chaosProxy{proxy: rp, rate: rate,
		rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), faults: map[string]int{}}
}

// pick draws the fault for one request: "" for none.
func (p *chaosProxy) pick() (fault string, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	if p.rnd.Float64() < 0.15 {
		delay = time.Duration(50+p.rnd.IntN(350)) * time.Millisecond
		p.faults["latency"]++
	}
	if p.rnd.Float64() >= p.rate {
		return "", delay
	}
	fault = []string{"reset", "5xx", "lost", "429"}[p.rnd.IntN(4)]
	p.faults[fault]++
	return fault, delay
}

func (p *chaosProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fault, delay := p.pick()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch fault {
	case "reset":
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // close with RST, not FIN
				}
				_ = conn.Close()
				return
			}
		}
		http.Error(w, "injected reset", http.StatusBadGateway)
	case "5xx":
		code := []int{500, 502, 503}[int(time.Now().UnixNano()%3)]
		http.Error(w, fmt.Sprintf(`{"computeFault": {"message": "injected %d", "code": %d}}`, code, code), code)
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"overLimit": {"message": "injected 429", "code": 429}}`, http.StatusTooManyRequests)
	case "lost":
		rec := httptest.NewRecorder()
		p.proxy.ServeHTTP(rec, r)
		_, _ = io.Copy(io.Discard, rec.Body)
		http.Error(w, "injected: answer lost", http.StatusBadGateway)
	default:
		p.proxy.ServeHTTP(w, r)
	}
}

// summary is "N requests, kind=count …", sorted by kind.
func (p *chaosProxy) summary() (string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var kinds []string
	total := 0
	for k, n := range p.faults {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		if k != "latency" {
			total += n
		}
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d requests, faults %s", p.seen, strings.Join(kinds, " ")), total
}
