package driver

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// Every error the driver returns carries one gRPC code and a message that says
// what to fix; handlers decide on errNotFound, never on a code.
func TestDriverErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		code     codes.Code
		msg      string
		notFound bool
	}{
		{"invalid", invalid("volume_id is required"), codes.InvalidArgument, "volume_id is required", false},
		{"not found", notFound("volume %s does not exist", "v"), codes.NotFound, "volume v does not exist", true},
		{"wrapped not found", fmt.Errorf("resolving: %w", notFound("gone")), codes.NotFound, "resolving: rpc error: code = NotFound desc = gone", true},
		{"precondition", failedPrecondition("attached"), codes.FailedPrecondition, "attached", false},
		{"exists", alreadyExists("named"), codes.AlreadyExists, "named", false},
		{"range", outOfRange("too big"), codes.OutOfRange, "too big", false},
		{"exhausted", exhausted("limit"), codes.ResourceExhausted, "limit", false},
		{"aborted", aborted("busy"), codes.Aborted, "busy", false},
		{"unavailable", unavailable("not ready"), codes.Unavailable, "not ready", false},
		{"internal", internal("encoding"), codes.Internal, "encoding", false},
		// Cloud and host errors: the code comes from codeOf, a cloud NotFound is not
		// the driver's errNotFound (handlers that ignore one say so explicitly).
		{"cloud not found", toStatus(cinder.ErrNotFound, "getting volume v"), codes.NotFound, "getting volume v: " + cinder.ErrNotFound.Error(), false},
		{"host device", toStatus(mount.ErrDeviceNotFound, "staging"), codes.NotFound, "staging: " + mount.ErrDeviceNotFound.Error(), false},
		{"deadline", toStatus(context.DeadlineExceeded, "waiting"), codes.DeadlineExceeded, "waiting: context deadline exceeded", false},
		{"stale marker", listFailed(cinder.ErrInvalidInput, "m", "tok", "volume"), codes.Aborted,
			`starting_token "tok" no longer names a volume; list again without it`, false},
		{"first page refused", listFailed(cinder.ErrInvalidInput, "", "", "snapshot"), codes.InvalidArgument,
			"listing snapshots: " + cinder.ErrInvalidInput.Error(), false},
		{"list unavailable", listFailed(cinder.ErrUnavailable, "m", "tok", "volume"), codes.Unavailable,
			"listing volumes: " + cinder.ErrUnavailable.Error(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := status.Convert(tc.err)
			if st.Code() != tc.code || st.Message() != tc.msg {
				t.Errorf("got %s %q, want %s %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
			if got := errors.Is(tc.err, errNotFound); got != tc.notFound {
				t.Errorf("errors.Is(errNotFound) = %v, want %v", got, tc.notFound)
			}
		})
	}
	if toStatus(nil, "x") != nil {
		t.Error("toStatus(nil) is not nil")
	}
	if err := notFound("x"); toStatus(err, "again") != err {
		t.Error("toStatus rewrapped a driver status")
	}
}
