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
