package cinder

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/utils/exec"
	testingexec "k8s.io/utils/exec/testing"
)

// metadataServer serves meta_data.json on 127.0.0.1 (never the link-local address).
func metadataServer(t *testing.T, status int) (*httptest.Server, *atomic.Int32) {
	hits := new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/openstack/latest/meta_data.json" || status != http.StatusOK {
			w.WriteHeader(max(status, http.StatusNotFound))
			return
		}
		_, _ = w.Write(readFixture(t, "meta_data.json"))
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

// fakeMount records mount/umount calls; a successful mount writes the config
// drive's meta_data.json into the target directory, as the real drive would show.
type fakeMount struct {
	calls    []string
	mountErr error
	dirs     []string
}

func (m *fakeMount) exec(t *testing.T, script int) *testingexec.FakeExec {
	fe := &testingexec.FakeExec{}
	for i := 0; i < script; i++ {
		fe.CommandScript = append(fe.CommandScript, func(cmd string, args ...string) exec.Cmd {
			m.calls = append(m.calls, cmd+" "+strings.Join(args, " "))
			fc := &testingexec.FakeCmd{}
			fc.CombinedOutputScript = []testingexec.FakeAction{func() ([]byte, []byte, error) {
				if cmd == "mount" {
					if m.mountErr != nil {
						return []byte("mount: wrong fs type"), nil, m.mountErr
					}
					dir := args[len(args)-1]
					m.dirs = append(m.dirs, dir)
					p := filepath.Join(dir, "openstack", "latest")
					must(t, os.MkdirAll(p, 0o755))
					must(t, os.WriteFile(filepath.Join(p, "meta_data.json"), readFixture(t, "meta_data.json"), 0o600))
					return nil, nil, nil
				}
				// umount: empty the directory as unmounting would.
				must(t, os.RemoveAll(filepath.Join(args[0], "openstack")))
				return nil, nil, nil
			}}
			return testingexec.InitFakeCmd(fc, cmd, args...)
		})
	}
	return fe
}

func TestMetadataFromService(t *testing.T) {
	srv, hits := metadataServer(t, http.StatusOK)
	m := &MetadataSource{URL: srv.URL, Order: []string{MetadataMetadataService}}
	md, err := m.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := InstanceMetadata{UUID: "9e1a1c2b-3d4e-4f5a-8b6c-7d8e9f0a1b2c", Name: "worker-0", AvailabilityZone: "zone-a"}
	if *md != want || hits.Load() != 1 {
		t.Errorf("got %+v after %d requests, want %+v", *md, hits.Load(), want)
	}
}

func TestMetadataFromConfigDrive(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "config-2")
	must(t, os.WriteFile(dev, nil, 0o600))
	fm := &fakeMount{}
	m := &MetadataSource{ConfigDriveDevice: dev, Order: []string{MetadataConfigDrive}, Exec: fm.exec(t, 3)}
	md, err := m.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.UUID != "9e1a1c2b-3d4e-4f5a-8b6c-7d8e9f0a1b2c" || md.AvailabilityZone != "zone-a" {
		t.Errorf("metadata %+v", md)
	}
	if len(fm.calls) != 2 || !strings.HasPrefix(fm.calls[0], "mount -t iso9660 -o ro "+dev+" ") || !strings.HasPrefix(fm.calls[1], "umount ") {
		t.Errorf("commands %q, want a read-only mount then an umount", fm.calls)
	}
	for _, d := range fm.dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temporary directory %s left behind", d)
		}
	}
}

func TestMetadataOrderAndFallback(t *testing.T) {
	srv, hits := metadataServer(t, http.StatusOK)
	missing := filepath.Join(t.TempDir(), "no-such-device")

	// Config drive first (default order), absent: the metadata service answers.
	m := &MetadataSource{URL: srv.URL, ConfigDriveDevice: missing, Exec: (&fakeMount{}).exec(t, 0)}
	md, err := m.Get(context.Background())
	if err != nil || md.Name != "worker-0" || hits.Load() != 1 {
		t.Errorf("fallback: %+v, %v, %d hits", md, err, hits.Load())
	}

	// A config drive that will not mount falls back too, after trying iso9660, vfat,
	// then whatever the kernel detects.
	dev := filepath.Join(t.TempDir(), "config-2")
	must(t, os.WriteFile(dev, nil, 0o600))
	fm := &fakeMount{mountErr: errors.New("exit status 32")}
	m = &MetadataSource{URL: srv.URL, ConfigDriveDevice: dev, Exec: fm.exec(t, 3)}
	if _, err := m.Get(context.Background()); err != nil {
		t.Errorf("fallback after failed mounts: %v", err)
	}
	if len(fm.calls) != 3 || !strings.Contains(fm.calls[1], "-t vfat") || !strings.Contains(fm.calls[2], "-t auto") {
		t.Errorf("mount attempts %q, want iso9660, vfat, auto", fm.calls)
	}
}

func TestMetadataErrors(t *testing.T) {
	down, _ := metadataServer(t, http.StatusInternalServerError)
	tests := []struct {
		name string
		m    *MetadataSource
		want []string
	}{
		{"every source fails", &MetadataSource{URL: down.URL, ConfigDriveDevice: filepath.Join(t.TempDir(), "none")},
			[]string{"no instance metadata", "configDrive: no config drive", "metadataService: GET", "HTTP 500"}},
		{"unknown source", &MetadataSource{Order: []string{"cloudInit"}},
			[]string{`unknown metadata source "cloudInit"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.m.Get(context.Background())
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestParseMetadataNeedsUUID(t *testing.T) {
	if _, err := parseMetadata([]byte(`{"name": "x"}`), "test"); err == nil || !strings.Contains(err.Error(), "no uuid") {
		t.Errorf("err = %v", err)
	}
	if _, err := parseMetadata([]byte(`not json`), "test"); err == nil {
		t.Error("bad JSON accepted")
	}
}
