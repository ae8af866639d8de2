package cinder

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// pollFunc checks a resource once. It returns done when the wait is over (with
// err set if it ended badly), and state, a short description of what it saw,
// for the error when ctx ends first. An error with done false is transient (the
// API failed this once) and the polling goes on.
type pollFunc func(ctx context.Context) (done bool, state string, err error)

// Kinds of operation whose waits learn their schedule (waitHistory). A kind may be
// refined with what changes the duration, such as the volume type.
const (
	kindCreateVolume   = "create-volume"
	kindDeleteVolume   = "delete-volume"
	kindExpandVolume   = "expand-volume"
	kindRetypeVolume   = "retype-volume"
	kindCreateSnapshot = "create-snapshot"
	kindDeleteSnapshot = "delete-snapshot"
	kindDeleteBackup   = "delete-backup"
	// Group snapshots: the temporary group's create and updates, the cut, the deletes.
	kindGroup               = "group"
	kindCreateGroupSnapshot = "create-group-snapshot"
	kindDeleteGroupSnapshot = "delete-group-snapshot"
	kindDeleteGroup         = "delete-group"
	kindNovaAttach          = "nova-attach"
	kindNovaDetach          = "nova-detach"
	// Plain waits (they learn nothing, but are measured).
	kindCinderDetach   = "cinder-detach"
	kindSettleToDelete = "settle-before-delete"
	kindSurvivor       = "create-volume-survivor"
)

// waitFor polls check until it is done or ctx ends, on the fixed schedule: the
// first check is immediate, then the pause grows by half from pollInitial up to
// pollMax. It is for waits that do not follow a request of their own (the change
// may have begun long ago).
func (c *Client) waitFor(ctx context.Context, kind, what string, check pollFunc) error {
	return c.poll(ctx, kind, false, what, check)
}

// waitAfterRequest is waitFor right after a request that starts a change of kind:
// the checks come when such changes lately ended (waitSchedule), and the wait's
// outcome teaches the next one.
func (c *Client) waitAfterRequest(ctx context.Context, kind, what string, check pollFunc) error {
	return c.poll(ctx, kind, true, what, check)
}

// poll runs a wait of kind; afterRequest says it follows the client's own request
// (learned schedule). The observer hears how each wait ended.
func (c *Client) poll(ctx context.Context, kind string, afterRequest bool, what string, check pollFunc) (err error) {
	sched := waitSchedule{initial: c.pollInitial, max: c.pollMax, floor: c.pollFloor, afterRequest: afterRequest}
	if afterRequest && c.history != nil {
		sched.learned = c.history.quantiles(kind)
	}
	start := time.Now()
	defer func() {
		outcome := WaitDone
		switch {
		case ctx.Err() != nil:
			outcome = WaitDeadline
		case err != nil:
			outcome = WaitFailed
		}
		c.observer().Wait(kindLabel(kind), outcome, time.Since(start))
	}()
	next := sched.offsets()
	last := "nothing yet"
	lo := time.Duration(-1) // offset of the last check that saw the change unfinished
	var delay time.Duration // added after transient failures, doubling
	for {
		if p := next() + delay - time.Since(start); p > 0 {
			if err := sleepCtx(ctx, p); err != nil {
				return fmt.Errorf("%s: gave up waiting, last seen %s: %w", what, last, err)
			}
		}
		at := time.Since(start)
		done, state, err := check(ctx)
		if ctx.Err() != nil {
			// Whatever the check returned, the reason is the deadline: say so, with
			// the last state seen, so the caller can tell slow from broken.
			return fmt.Errorf("%s: gave up waiting, last seen %s: %w", what, last, ctx.Err())
		}
		if done {
			if err == nil && afterRequest && c.history != nil {
				c.history.observe(kind, lo, at)
			}
			return err
		}
		if err != nil {
			// A failed poll (Cinder briefly unavailable, or throttling past the
			// transport's retries) is not the end of the wait: the operation goes
			// on in the cloud. The checks after it back off.
			state = err.Error()
			delay = min(max(2*delay, c.pollInitial/2), c.pollMax)
		}
		if state != "" {
			last = state
		}
		lo = at
	}
}

// observer is c.obs, or one that hears nothing (clients made by tests).
func (c *Client) observer() Observer {
	if c.obs == nil {
		return noObserver{}
	}
	return c.obs
}

// pollError sorts a failed poll: an unavailable cloud is transient (poll again),
// anything else ends the wait with that error.
func pollError(err error) (bool, string, error) {
	return !errors.Is(err, ErrUnavailable), "", err
}
