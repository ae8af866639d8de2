package cinder

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/klog/v2"
)

// busyStatuses are the transitional states in which Cinder refuses a delete but will
// soon leave: a delete waits them out instead of failing.
var busyStatuses = map[string]bool{
	StatusCreating: true, StatusDownloading: true, StatusRestoringBackup: true, StatusBackingUp: true,
	StatusExtending: true, StatusRetyping: true, StatusAttaching: true, StatusDetaching: true,
	"restoring": true, "updating": true, "uploading": true, "maintenance": true, "awaiting-transfer": false,
}

// deleteWhole deletes a volume, snapshot or backup as one operation: it deletes it
// and waits until it is gone, so that what depends on it (a snapshot's volume) can
// go next and a listing no longer shows it. The delete is asked for first: when
// Cinder refuses it because the resource is still being made or changed, the
// resource is waited for (until it leaves the busy states) and the delete asked
// once more. A missing resource is not an error; one that ends in error_deleting
// is ErrBackend. Every wait is bounded by ctx.
func (c *Client) deleteWhole(ctx context.Context, kind, what string, status func(context.Context) (string, error), del func(context.Context) error) error {
	err := del(ctx)
	if errors.Is(err, ErrInvalidState) {
		gone := false
		serr := c.waitFor(ctx, kindSettleToDelete, what+" to settle before it is deleted", func(ctx context.Context) (bool, string, error) {
			st, err := status(ctx)
			if errors.Is(err, ErrNotFound) {
				gone = true
				return true, "", nil
			}
			if err != nil {
				return pollError(err)
			}
			return !busyStatuses[st], "status " + st, nil
		})
		if serr != nil || gone {
			return serr
		}
		err = del(ctx)
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	err = c.waitAfterRequest(ctx, kind, what+" to be deleted", func(ctx context.Context) (bool, string, error) {
		st, err := status(ctx)
		if errors.Is(err, ErrNotFound) {
			return true, "", nil
		}
		if err != nil {
			return pollError(err)
		}
		if st == StatusErrorDeleting {
			return true, "", fmt.Errorf("%w: %s ended in %q; deleting it again may succeed", ErrBackend, what, st)
		}
		return false, "status " + st, nil
	})
	if err == nil {
		klog.V(2).InfoS("Deleted", "what", what)
	}
	return err
}
