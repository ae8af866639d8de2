package driver

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cinder-csi/cinder-csi-driver/pkg/cinder"
	"github.com/cinder-csi/cinder-csi-driver/pkg/mount"
)

// toStatus is the one place where cloud and host errors become gRPC codes. what says
// which operation failed on what ("creating volume pvc-1"); the cause's own message,
// which usually says what is wrong, follows it.
func toStatus(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if _, direct := err.(interface{ GRPCStatus() *status.Status }); direct {
		return err
	}
	msg := fmt.Sprintf(format, args...) + ": " + err.Error()
	return status.Error(codeOf(err), msg)
}

func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, cinder.ErrNotFound), errors.Is(err, mount.ErrDeviceNotFound):
		return codes.NotFound
	case errors.Is(err, cinder.ErrAttachedElsewhere), errors.Is(err, cinder.ErrInvalidState),
		errors.Is(err, cinder.ErrNotSupported):
		return codes.FailedPrecondition
	case errors.Is(err, cinder.ErrQuotaExceeded), errors.Is(err, cinder.ErrAttachLimit):
		return codes.ResourceExhausted
	case errors.Is(err, cinder.ErrInvalidInput), errors.Is(err, mount.ErrUnsupported),
		errors.Is(err, mount.ErrInvalidArgument):
		return codes.InvalidArgument
	case errors.Is(err, mount.ErrMountConflict):
		return codes.AlreadyExists
	case errors.Is(err, mount.ErrNotMounted), errors.Is(err, mount.ErrFilesystemMismatch),
		errors.Is(err, mount.ErrFilesystemCorrupt), errors.Is(err, mount.ErrUnformattedReadOnly):
		return codes.FailedPrecondition
	case errors.Is(err, cinder.ErrUnavailable):
		return codes.Unavailable
	default:
		return codes.Internal
	}
}

// errNotFound is what every driver error that names a missing object matches
// (errors.Is): a handler that treats "nothing there" as success decides on it,
// not on the gRPC code a helper chose.
var errNotFound = errors.New("no such object")

// statusError is a gRPC status error made by the driver itself: its code and
// message go to the caller, and kind (if any) is what errors.Is matches.
type statusError struct {
	st   *status.Status
	kind error
}

func (e *statusError) Error() string              { return e.st.Err().Error() }
func (e *statusError) GRPCStatus() *status.Status { return e.st }
func (e *statusError) Is(target error) bool       { return e.kind != nil && target == e.kind }

func newStatus(code codes.Code, kind error, format string, args ...any) error {
	return &statusError{st: status.New(code, fmt.Sprintf(format, args...)), kind: kind}
}

// The named constructors: one a code, each message saying what to fix.

func invalid(format string, args ...any) error {
	return newStatus(codes.InvalidArgument, nil, format, args...)
}

func notFound(format string, args ...any) error {
	return newStatus(codes.NotFound, errNotFound, format, args...)
}

func failedPrecondition(format string, args ...any) error {
	return newStatus(codes.FailedPrecondition, nil, format, args...)
}

func alreadyExists(format string, args ...any) error {
	return newStatus(codes.AlreadyExists, nil, format, args...)
}

func outOfRange(format string, args ...any) error {
	return newStatus(codes.OutOfRange, nil, format, args...)
}

func exhausted(format string, args ...any) error {
	return newStatus(codes.ResourceExhausted, nil, format, args...)
}

// aborted is for a conflict the caller resolves by retrying: an operation in
// progress, a listing that moved under its token.
func aborted(format string, args ...any) error {
	return newStatus(codes.Aborted, nil, format, args...)
}

// unavailable is for an object that is not ready yet: retry shortly.
func unavailable(format string, args ...any) error {
	return newStatus(codes.Unavailable, nil, format, args...)
}

func unimplemented(format string, args ...any) error {
	return newStatus(codes.Unimplemented, nil, format, args...)
}

func internal(format string, args ...any) error {
	return newStatus(codes.Internal, nil, format, args...)
}

// listFailed maps a failed page of a listing of what ("volume", "snapshot"). A
// marker Cinder refuses (ErrInvalidInput) names an object deleted since the
// token was issued: Aborted, and the caller lists again from the start.
func listFailed(err error, marker, token, what string) error {
	if marker != "" && errors.Is(err, cinder.ErrInvalidInput) {
		return aborted("starting_token %q no longer names a %s; list again without it", token, what)
	}
	return toStatus(err, "listing %ss", what)
}
