package cinder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
)

func TestMapHTTPError(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		fixture string
		want    error
		message string
	}{
		{"404 itemNotFound", 404, "error_not_found.json", ErrNotFound, "could not be found"},
		{"Nova 404 server", 404, "error_nova_server_not_found.json", ErrNotFound, "Instance 9e1a1c2b"},
		{"400 badRequest", 400, "error_bad_request.json", ErrInvalidInput, "Availability zone 'nowhere' is invalid"},
		{"400 invalid volume state", 400, "error_invalid_volume.json", ErrInvalidState, "Volume status must be available"},
		{"409 conflict", 409, "error_conflict.json", ErrInvalidState, "vm_state shelved_offloaded"},
		{"413 overLimit", 413, "error_over_limit.json", ErrQuotaExceeded, "VolumeSizeExceedsAvailableQuota"},
		{"403 quota", 403, "error_quota_forbidden.json", ErrQuotaExceeded, "Quota exceeded"},
		{"Nova 403 too many disks", 403, "error_nova_too_many_disks.json", ErrAttachLimit, "maximum allowed number of disk devices (4)"},
		{"429", 429, "error_unavailable.json", ErrUnavailable, "temporarily unavailable"},
		{"500", 500, "error_unavailable.json", ErrUnavailable, "HTTP 500"},
		{"503", 503, "error_unavailable.json", ErrUnavailable, "HTTP 503"},
		{"406 microversion", 406, "error_bad_request.json", ErrNotSupported, "HTTP 406"},
		{"401 no sentinel", 401, "keystone_unauthorized.json", nil, "requires authentication"},
	}
	all := []error{ErrNotFound, ErrInvalidState, ErrAttachedElsewhere, ErrQuotaExceeded, ErrAttachLimit, ErrInvalidInput, ErrBackend, ErrUnavailable, ErrNotSupported}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The error as gophercloud returns it, by value.
			raw := gophercloud.ErrUnexpectedResponseCode{
				Method: "POST", URL: "http://127.0.0.1/volume/v3/p/volumes", Actual: tc.status,
				Body: readFixture(t, tc.fixture),
			}
			for _, in := range []error{raw, &raw, fmt.Errorf("wrapped: %w", raw)} {
				err := mapError(in)
				for _, s := range all {
					if got, want := errors.Is(err, s), s == tc.want; got != want {
						t.Errorf("errors.Is(%q, %v) = %v, want %v", err, s, got, want)
					}
				}
				if !strings.Contains(err.Error(), tc.message) {
					t.Errorf("%q lost the API's message %q", err, tc.message)
				}
			}
		})
	}
}

func TestMapErrorTransportAndContext(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	if err := mapError(refused); !errors.Is(err, ErrUnavailable) {
		t.Errorf("connection refused: %v, want ErrUnavailable", err)
	}
	deadline := &url.Error{Op: "Get", URL: "http://127.0.0.1", Err: context.DeadlineExceeded}
	if err := mapError(deadline); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
		t.Errorf("deadline: %v, want the context error unchanged", err)
	}
	if mapError(nil) != nil {
		t.Error("mapError(nil) != nil")
	}
	// Keystone's error wrapped by gophercloud after a re-authentication.
	after := &gophercloud.ErrErrorAfterReauthentication{ErrOriginal: gophercloud.ErrUnexpectedResponseCode{Actual: http.StatusNotFound, Body: []byte(`{"itemNotFound": {"message": "gone", "code": 404}}`)}}
	if err := mapError(after); !errors.Is(err, ErrNotFound) {
		t.Errorf("after reauth: %v, want ErrNotFound", err)
	}
}

func TestAPIMessageFallsBackToBody(t *testing.T) {
	if got := apiMessage([]byte("<html>Bad Gateway</html>")); got != "<html>Bad Gateway</html>" {
		t.Errorf("apiMessage = %q", got)
	}
	if got := apiMessage(nil); got != "no message" {
		t.Errorf("apiMessage(nil) = %q", got)
	}
}

// The cloud's error answers arrive at the callers as sentinels, through real calls.
func TestCloudCallsMapErrors(t *testing.T) {
	f := newFakeOpenStack(t)
	c := f.client(t)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"quota on create", func() error {
			_, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "big", SizeGiB: 500})
			return err
		}, ErrQuotaExceeded},
		{"bad zone on create", func() error {
			_, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "z", SizeGiB: 1, AvailabilityZone: "nowhere"})
			return err
		}, ErrInvalidInput},
		{"unknown type on create", func() error {
			_, err := c.CreateVolume(ctx, CreateVolumeOpts{Name: "t", SizeGiB: 1, VolumeType: "unknown"})
			return err
		}, ErrNotFound},
		{"missing volume", func() error { _, err := c.GetVolume(ctx, "nope"); return err }, ErrNotFound},
		{"missing snapshot", func() error { _, err := c.GetSnapshot(ctx, "nope"); return err }, ErrNotFound},
		{"missing backup", func() error { _, err := c.GetBackup(ctx, "nope"); return err }, ErrNotFound},
		{"unknown marker", func() error { _, _, err := c.ListVolumes(ctx, ListOpts{Marker: "nope"}); return err }, ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}
