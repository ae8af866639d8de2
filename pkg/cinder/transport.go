package cinder

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"k8s.io/klog/v2"
)

// retryTransport retries idempotent requests (GET, HEAD, DELETE) that failed for
// reasons that usually pass: 500/502/503/504 from an API restarting, a proxy or a
// database hiccup (the error map calls these unavailable too), 429
// rate limiting (after Retry-After), and dropped connections. POST and PUT are
// retried here only after a 429: a create that failed otherwise may have happened,
// and only the caller knows how to check (createOnce lists by name).
type retryTransport struct {
	next      http.RoundTripper
	maxTries  int
	baseDelay time.Duration
	maxDelay  time.Duration
	// sleep waits between tries (sleepCtx; tests record the waits instead).
	sleep func(ctx context.Context, d time.Duration) error
	// obs hears every retry; services names the service of a request.
	obs      Observer
	services *services
}

func newRetryTransport(next http.RoundTripper, obs Observer, svc *services) *retryTransport {
	return &retryTransport{next: next, maxTries: 5, baseDelay: 500 * time.Millisecond, maxDelay: 8 * time.Second, sleep: sleepCtx,
		obs: obs, services: svc}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	delay := t.baseDelay
	for try := 1; ; try++ {
		resp, err := t.next.RoundTrip(req)
		// A 429 means the request was turned away unprocessed, so even a POST may be
		// sent again; other failures of a POST may hide a create that happened.
		resend := idempotent(req.Method) || statusOf(resp) == http.StatusTooManyRequests
		if try >= t.maxTries || !resend || !retryable(resp, err) || req.Context().Err() != nil {
			return resp, err
		}
		wait := delay
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
				wait = ra
			}
			// Drain so the connection can be reused for the next try.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		klog.V(4).InfoS("Retrying OpenStack API request", "method", req.Method, "url", req.URL.Redacted(),
			"try", try, "status", statusOf(resp), "err", err, "wait", wait)
		t.obs.Retry(t.services.of(req), statusOf(resp), wait)
		if err := t.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		delay = min(delay*2, t.maxDelay)
	}
}

func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodDelete
}

func retryable(resp *http.Response, err error) bool {
	if err != nil {
		// A certificate the client refuses will be refused again.
		if isCertificateError(err) {
			return false
		}
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// sleepCtx waits for d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tlsConfig builds the TLS settings shared by Keystone, Cinder and Nova.
func (c *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.Insecure} //nolint:gosec // operator's explicit choice
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: read CA file: %w", c.Source, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: CA file %s holds no PEM certificate", c.Source, c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.ClientCertFile != "" || c.ClientKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: load client certificate: %w", c.Source, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
