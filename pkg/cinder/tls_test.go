package cinder

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA returns a self-signed certificate for 127.0.0.1 and its key.
func testCA(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "cinder-csi test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func testCAPEM(t *testing.T) []byte {
	c, _ := testCA(t)
	return c
}

// A Cinder behind TLS signed by a private CA is reached with ca-file, and
// refused without it (with a message that names the problem).
func TestTLSWithCAFile(t *testing.T) {
	certPEM, keyPEM := testCA(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	must(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(readFixture(t, "limits.json"))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()

	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.pem", string(certPEM))
	cfg := &Config{Source: "test", NoAuth: true, Endpoint: srv.URL + "/v3", CAFile: ca}
	if _, err := NewClient(context.Background(), cfg, ClientOptions{}); err != nil {
		t.Errorf("with the CA: %v", err)
	}

	cfg.CAFile = ""
	_, err = NewClient(context.Background(), cfg, ClientOptions{})
	if err == nil || !strings.Contains(err.Error(), "certificate is not trusted; set the CA file") || errors.Is(err, ErrUnavailable) {
		t.Errorf("without the CA: %v, want a certificate error", err)
	}

	cfg.Insecure = true
	if _, err := NewClient(context.Background(), cfg, ClientOptions{}); err != nil {
		t.Errorf("insecure: %v", err)
	}

	cfg.Insecure, cfg.CAFile = false, filepath.Join(dir, "missing.pem")
	if _, err := NewClient(context.Background(), cfg, ClientOptions{}); err == nil || !strings.Contains(err.Error(), "read CA file") {
		t.Errorf("missing CA file: %v", err)
	}
}

// WrapTransport sees every attempt, including retried ones.
func TestWrapTransportSeesEveryAttempt(t *testing.T) {
	f := newFakeOpenStack(t)
	var seen []string
	wrap := func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			seen = append(seen, r.Method+" "+r.URL.Path)
			return next.RoundTrip(r)
		})
	}
	c, err := NewClient(context.Background(), f.passwordConfig(), ClientOptions{WrapTransport: wrap, UserAgent: "cinder-csi/test"})
	must(t, err)
	c.retry.baseDelay = time.Millisecond
	f.inject("GET", "/limits", 503, "error_unavailable.json", 1, nil)
	before := len(seen)
	if _, err := c.GetLimits(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(seen) - before; got != 2 {
		t.Errorf("wrapper saw %d requests, want 2 (the failure and the retry): %v", got, seen)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
