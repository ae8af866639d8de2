package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// Watch follows one collection through the API server's watch protocol and stamps
// each event as it arrives. The e2e-timing figures are measured between two such
// stamps (an object's creation and the change awaited), so they hold neither
// kubectl's start-up nor a poller's pause.
type Watch struct {
	what   string
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	events []stamped
	err    error
	more   chan struct{} // closed and replaced at each event
}

type stamped struct {
	at   time.Time
	typ  string
	name string
	obj  map[string]any
}

// Watch opens a watch on the collection at path (such as
// /api/v1/namespaces/default/persistentvolumeclaims) with the kubeconfig's server
// and token. It returns once the API server has accepted the watch: anything made
// after that arrives as an event.
func (k Kube) Watch(ctx context.Context, path string) (*Watch, error) {
	out, err := k.Run(ctx, "", "config", "view", "--raw", "--minify", "-o", "json")
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Clusters []struct {
			Cluster struct {
				Server   string `json:"server"`
				CA       string `json:"certificate-authority"`
				Insecure bool   `json:"insecure-skip-tls-verify"`
			} `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			User struct {
				Token string `json:"token"`
			} `json:"user"`
		} `json:"users"`
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil || len(cfg.Clusters) != 1 || len(cfg.Users) != 1 {
		return nil, fmt.Errorf("kubeconfig %s: want one cluster and one user with a token (%v)", k.Kubeconfig, err)
	}
	c, token := cfg.Clusters[0].Cluster, cfg.Users[0].User.Token
	// The test's own API server on 127.0.0.1, verified as its kubeconfig says.
	tlsc := &tls.Config{InsecureSkipVerify: c.Insecure}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, err
		}
		tlsc.RootCAs = x509.NewCertPool()
		tlsc.RootCAs.AppendCertsFromPEM(pem)
	}
	wctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(wctx, http.MethodGet, c.Server+path+"?watch=1", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsc}}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("watching %s: %s", path, resp.Status)
	}
	w := &Watch{what: path, cancel: cancel, done: make(chan struct{}), more: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var ev struct {
				Type   string         `json:"type"`
				Object map[string]any `json:"object"`
			}
			err := dec.Decode(&ev)
			at := time.Now()
			w.mu.Lock()
			if err != nil {
				w.err = err
			} else {
				w.events = append(w.events, stamped{at: at, typ: ev.Type, name: Str(ev.Object, "metadata", "name"), obj: ev.Object})
			}
			close(w.more)
			w.more = make(chan struct{})
			w.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return w, nil
}

// Close ends the watch.
func (w *Watch) Close() {
	w.cancel()
	<-w.done
}

// When returns when the first event of an object named name (any object if name
// is empty) on which cond holds arrived, waiting up to timeout for it, and that
// object.
func (w *Watch) When(ctx context.Context, timeout time.Duration, what, name string, cond func(obj map[string]any) bool) (time.Time, map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	seen, last := 0, ""
	for {
		w.mu.Lock()
		for ; seen < len(w.events); seen++ {
			ev := w.events[seen]
			if (name == "" || ev.name == name) && ev.typ != "DELETED" && ev.typ != "ERROR" {
				if cond(ev.obj) {
					w.mu.Unlock()
					return ev.at, ev.obj, nil
				}
				st, _ := json.Marshal(ev.obj["status"])
				last = "status " + string(st)
			}
		}
		more, err := w.more, w.err
		w.mu.Unlock()
		if err != nil {
			return time.Time{}, nil, fmt.Errorf("waiting for %s: the watch of %s ended: %w; last seen: %s", what, w.what, err, last)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, nil, fmt.Errorf("waiting for %s: %w; last seen: %s", what, ctx.Err(), last)
		case <-more:
		}
	}
}

// Exists is a condition that holds on any object: with When, the arrival of an
// object's first event, which the API server sends when it stores the object.
func Exists(map[string]any) bool { return true }
