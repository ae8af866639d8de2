package realnova

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Calls counts the OpenStack API requests a client makes, by service, method and
// path shape (IDs folded), for the figures of each controller operation.
type Calls struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string]int
}

// Wrap is a cinder.ClientOptions.WrapTransport.
func (c *Calls) Wrap(next http.RoundTripper) http.RoundTripper {
	c.next = next
	return c
}

var idPart = regexp.MustCompile(`/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|/[0-9a-f]{32}`)

// RoundTrip implements http.RoundTripper.
func (c *Calls) RoundTrip(r *http.Request) (*http.Response, error) {
	service := "keystone"
	switch {
	case strings.HasSuffix(r.URL.Host, ":8774"):
		service = "nova"
	case strings.HasSuffix(r.URL.Host, ":8776"), strings.HasSuffix(r.URL.Host, ":8777"):
		service = "cinder"
	}
	path := idPart.ReplaceAllString(r.URL.Path, "/{id}")
	path = strings.TrimPrefix(strings.TrimPrefix(path, "/v3/{id}"), "/v2.1")
	c.mu.Lock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[service+" "+r.Method+" "+path]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// Take returns the counts since the last Take and starts again.
func (c *Calls) Take() Count {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Count(c.seen)
	c.seen = map[string]int{}
	return out
}

// Count is one operation's requests.
type Count map[string]int

// Total is the number of requests.
func (n Count) Total() int {
	t := 0
	for _, v := range n {
		t += v
	}
	return t
}

// String lists "N× service METHOD path", most first.
func (n Count) String() string {
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return n[keys[i]] > n[keys[j]] || (n[keys[i]] == n[keys[j]] && keys[i] < keys[j]) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d× %s", n[k], k)
	}
	return fmt.Sprintf("%d calls: %s", n.Total(), strings.Join(parts, ", "))
}
