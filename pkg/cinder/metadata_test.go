package cinder

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
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

// configDrive reads meta_data.json from a config drive that holds it; absent is
// one without it (a drive that is missing or will not mount).
func configDrive(t *testing.T, reads *int, absent error) func(context.Context, string) ([]byte, string, error) {
	return func(_ context.Context, path string) ([]byte, string, error) {
		*reads++
		if absent != nil {
			return nil, "", absent
		}
		if path != "openstack/latest/meta_data.json" {
			t.Errorf("config drive read %q", path)
		}
		return readFixture(t, "meta_data.json"), "/dev/sr0:" + path, nil
	}
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
	var reads int
	m := &MetadataSource{ConfigDrive: configDrive(t, &reads, nil), Order: []string{MetadataConfigDrive}}
	md, err := m.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.UUID != "9e1a1c2b-3d4e-4f5a-8b6c-7d8e9f0a1b2c" || md.AvailabilityZone != "zone-a" || reads != 1 {
		t.Errorf("metadata %+v after %d reads", md, reads)
	}
}

func TestMetadataOrderAndFallback(t *testing.T) {
	srv, hits := metadataServer(t, http.StatusOK)

	// Config drive first (default order), absent: the metadata service answers.
	var reads int
	m := &MetadataSource{URL: srv.URL, ConfigDrive: configDrive(t, &reads, errors.New("no config drive: none of /dev/x exists"))}
	md, err := m.Get(context.Background())
	if err != nil || md.Name != "worker-0" || hits.Load() != 1 || reads != 1 {
		t.Errorf("fallback: %+v, %v, %d hits, %d reads", md, err, hits.Load(), reads)
	}
	// No reader at all: the same.
	m = &MetadataSource{URL: srv.URL}
	if md, err := m.Get(context.Background()); err != nil || md.Name != "worker-0" {
		t.Errorf("without a config drive reader: %+v, %v", md, err)
	}
	// Metadata service first: the drive is not read.
	reads = 0
	m = &MetadataSource{URL: srv.URL, ConfigDrive: configDrive(t, &reads, nil), Order: []string{MetadataMetadataService, MetadataConfigDrive}}
	if _, err := m.Get(context.Background()); err != nil || reads != 0 {
		t.Errorf("service first: %v, %d reads of the drive", err, reads)
	}
}

func TestMetadataErrors(t *testing.T) {
	down, _ := metadataServer(t, http.StatusInternalServerError)
	tests := []struct {
		name string
		m    *MetadataSource
		want []string
	}{
		{"every source fails", &MetadataSource{URL: down.URL},
			[]string{"no instance metadata", "configDrive: no config drive reader", "metadataService: GET", "HTTP 500"}},
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
