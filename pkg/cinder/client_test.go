package cinder

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestNewClientAuthenticates(t *testing.T) {
	tests := []struct {
		name       string
		cfg        func(f *fakeOpenStack) *Config
		wantMethod string
	}{
		{
			name:       "password with names",
			cfg:        func(f *fakeOpenStack) *Config { return f.passwordConfig() },
			wantMethod: "password",
		},
		{
			name: "password with domain fallback and project ID",
			cfg: func(f *fakeOpenStack) *Config {
				return &Config{Source: "test", AuthURL: f.srv.URL + "/identity/v3", Username: "demo", Password: "secret",
					DomainID: "default", ProjectID: testProject}
			},
			wantMethod: "password",
		},
		{
			name: "application credential",
			cfg: func(f *fakeOpenStack) *Config {
				return &Config{Source: "test", AuthURL: f.srv.URL + "/identity/v3",
					ApplicationCredentialID: "ac-id", ApplicationCredentialSecret: "ac-secret"}
			},
			wantMethod: "application_credential",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOpenStack(t)
			c := f.fastClient(t, tc.cfg(f))
			if c.compute == nil {
				t.Errorf("compute client missing: %v", c.computeErr)
			}
			reqs := f.recordedRequests()
			auth := reqs[0]
			if auth.Path != "/identity/v3/auth/tokens" {
				t.Fatalf("first request %s %s, want the token request", auth.Method, auth.Path)
			}
			methods := dig(auth.Body, "auth", "identity")["methods"].([]any)
			if len(methods) != 1 || methods[0] != tc.wantMethod {
				t.Errorf("auth methods %v, want [%s]", methods, tc.wantMethod)
			}
			if tc.wantMethod == "application_credential" && auth.Body["auth"].(map[string]any)["scope"] != nil {
				t.Errorf("application credential request carries a scope: %v", auth.Body)
			}
			probe := reqs[len(reqs)-1]
			if probe.Path != "/volume/v3/"+testProject+"/limits" || probe.Token != "tok-"+tc.wantMethod {
				t.Errorf("probe %s with token %q, want the limits call with the Keystone token", probe.Path, probe.Token)
			}
		})
	}
}

func TestNewClientNoAuth(t *testing.T) {
	f := newFakeOpenStack(t)
	cfg := &Config{Source: "test", NoAuth: true, Endpoint: f.srv.URL + "/volume/v3", ProjectID: "proj-1", Username: "csi"}
	c := f.fastClient(t, cfg)

	if _, err := c.GetLimits(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.recordedRequests() {
		if strings.HasPrefix(r.Path, "/identity") {
			t.Errorf("noauth contacted Keystone: %s", r.Path)
		}
		if r.Path != "/volume/v3/proj-1/limits" || r.Token != "csi:proj-1" {
			t.Errorf("request %s with token %q, want /volume/v3/proj-1/limits with token csi:proj-1", r.Path, r.Token)
		}
	}
	_, err := c.NovaAttacher().Attach(context.Background(), c.known("vol"), Node{ID: "server"})
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("Nova attach in noauth mode: %v, want ErrNotSupported", err)
	}
}

func TestNewClientErrorsSayWhatToFix(t *testing.T) {
	tests := []struct {
		name string
		edit func(f *fakeOpenStack, c *Config)
		want []string
	}{
		{
			name: "wrong password",
			edit: func(_ *fakeOpenStack, c *Config) { c.Password = "wrong" },
			want: []string{"authentication to Keystone at", "/identity/v3 failed", "requires authentication", "HTTP 401"},
		},
		{
			name: "unknown region",
			edit: func(_ *fakeOpenStack, c *Config) { c.Region = "RegionTwo" },
			want: []string{"no Cinder v3", `region "RegionTwo"`, "check region and endpoint type"},
		},
		{
			name: "bad endpoint type",
			edit: func(_ *fakeOpenStack, c *Config) { c.EndpointType = "private" },
			want: []string{`endpoint type "private" is not public, internal or admin`},
		},
		{
			name: "Keystone unreachable",
			edit: func(f *fakeOpenStack, c *Config) { c.AuthURL = "http://127.0.0.1:1/v3" },
			want: []string{"authentication to Keystone at http://127.0.0.1:1/v3 failed", "cloud unavailable"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOpenStack(t)
			cfg := f.passwordConfig()
			tc.edit(f, cfg)
			_, err := NewClient(context.Background(), cfg, ClientOptions{})
			if err == nil {
				t.Fatal("NewClient succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), string(cfg.Password)) {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestNewClientWithoutNova(t *testing.T) {
	f := newFakeOpenStack(t)
	f.do(func() { f.noCompute = true })
	c := f.client(t)
	_, err := c.NovaAttacher().Attach(context.Background(), c.known("vol"), Node{ID: "server"})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "no compute endpoint") {
		t.Errorf("Attach without Nova: %v, want ErrNotSupported naming the missing endpoint", err)
	}
	if _, err := c.GetLimits(context.Background()); err != nil {
		t.Errorf("Cinder calls must still work: %v", err)
	}
}

func TestMicroversionsPerCall(t *testing.T) {
	f := newFakeOpenStack(t)
	c := f.client(t)
	ctx := context.Background()
	v, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "mv", SizeGiB: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.do(func() { f.servers["server-1"] = true })
	if _, err := c.NovaAttacher().Attach(ctx, c.known(v.ID), Node{ID: "server-1"}); err != nil {
		t.Fatal(err)
	}
	attached, err := c.GetVolume(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExpandVolume(ctx, attached, 2); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"POST /volume/v3/" + testProject + "/volumes":                     "volume 3.0",
		"GET /volume/v3/" + testProject + "/volumes/" + v.ID:              "volume 3.47",
		"POST /volume/v3/" + testProject + "/volumes/" + v.ID + "/action": "volume 3.42",
		"POST /compute/v2.1/servers/server-1/os-volume_attachments":       "compute 2.1",
	}
	seen := map[string]bool{}
	for _, r := range f.recordedRequests() {
		key := r.Method + " " + r.Path
		if mv, ok := want[key]; ok {
			seen[key] = true
			if r.Microversion != mv {
				t.Errorf("%s sent microversion %q, want %q", key, r.Microversion, mv)
			}
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("no request %s", k)
		}
	}
}

// An expired token (401 from Cinder) is renewed once and the call goes on.
func TestExpiredTokenIsRenewed(t *testing.T) {
	f := newFakeOpenStack(t)
	c := f.client(t)
	f.inject("GET", "/limits", 401, "keystone_unauthorized.json", 1, nil)
	if _, err := c.GetLimits(context.Background()); err != nil {
		t.Fatalf("GetLimits after a 401: %v", err)
	}
	if n := f.calls("POST", "/auth/tokens"); n != 2 {
		t.Errorf("%d token requests, want 2 (start-up and renewal)", n)
	}
}
