package cinder

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"
)

// createTries bounds how often a create is sent again after Cinder answered 5xx or
// the connection dropped; the request context bounds the time.
const createTries = 4

// createOnce sends a create (POST) so that a blip is invisible and never makes a
// duplicate. POSTs are not retried blindly, because a create that failed on the way
// back may have happened: after an ErrUnavailable, find looks for what this create
// would have made (by name, which the caller serialises) and adopts it; only when
// nothing is there is the POST sent again, after a backoff. post and find return
// the resource ID; find returns "" when there is none.
func (c *Client) createOnce(ctx context.Context, what string, post func(context.Context) (string, error), find func(context.Context) (string, error)) (string, error) {
	delay := c.pollInitial
	for try := 1; ; try++ {
		id, err := post(ctx)
		if err == nil || !errors.Is(err, ErrUnavailable) || try >= createTries {
			return id, err
		}
		klog.InfoS("Create failed on the way; checking whether it happened before retrying", "what", what, "try", try, "err", err)
		if serr := sleepCtx(ctx, delay); serr != nil {
			return "", fmt.Errorf("%w (and gave up retrying: %v)", err, serr)
		}
		delay = min(2*delay, c.pollMax)
		found, ferr := find(ctx)
		if ferr != nil {
			// Cannot tell whether it happened: sending it again could duplicate it.
			return "", fmt.Errorf("%w; looking for it afterwards failed too: %v", err, ferr)
		}
		if found != "" {
			klog.InfoS("The failed create had happened; using its result", "what", what, "id", found)
			return found, nil
		}
	}
}

// newest returns the ID of the most recently created item, "" if there is none. The
// caller holds the name's lock and checked for the name before creating, so any item
// of that name found after a failed create comes from this create; clocks are not
// compared, because the cloud's may differ from the node's.
func newest[T any](items []T, created func(T) time.Time, id func(T) string) string {
	best, bestAt := "", time.Time{}
	for _, it := range items {
		if at := created(it); best == "" || at.After(bestAt) {
			best, bestAt = id(it), at
		}
	}
	return best
}
