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

// waitFor polls check until it is done or ctx ends. The first check is immediate;
// the pause between checks then grows by half from pollInitial up to pollMax, which
// keeps quick operations quick without hammering the API during slow ones.
func (c *Client) waitFor(ctx context.Context, what string, check pollFunc) error {
	return c.poll(ctx, what, false, check)
}

// waitAfterRequest is waitFor right after a request that starts the change: the
// checks start after half of pollInitial and come at half steps (see pauses).
func (c *Client) waitAfterRequest(ctx context.Context, what string, check pollFunc) error {
	return c.poll(ctx, what, true, check)
}

func (c *Client) poll(ctx context.Context, what string, afterRequest bool, check pollFunc) error {
	pause := pauses(c.pollInitial, c.pollMax, afterRequest)
	last := "nothing yet"
	for {
		if p := pause(); p > 0 {
			if err := sleepCtx(ctx, p); err != nil {
				return fmt.Errorf("%s: gave up waiting, last seen %s: %w", what, last, err)
			}
		}
		done, state, err := check(ctx)
		if ctx.Err() != nil {
			// Whatever the check returned, the reason is the deadline: say so, with
			// the last state seen, so the caller can tell slow from broken.
			return fmt.Errorf("%s: gave up waiting, last seen %s: %w", what, last, ctx.Err())
		}
		if done {
			return err
		}
		if err != nil {
			// A failed poll (Cinder briefly unavailable) is not the end of the wait:
			// the operation goes on in the cloud.
			state = err.Error()
		}
		if state != "" {
			last = state
		}
	}
}

// pauses returns the pause before each successive check of a wait. A plain wait
// checks at once, then after initial, growing by half up to max. Right after a
// request the first checks come at half steps: an immediate one would only see the
// state the request just left, and the operations waited on most (a Nova attach
// or detach, about 0.5 to 1.5 s) end within the first few half steps. With initial
// 1 s the checks come at 0.5, 1, 1.75, 2.9, 4.6 s.
func pauses(initial, max time.Duration, afterRequest bool) func() time.Duration {
	next, first := initial, time.Duration(0)
	if afterRequest {
		next /= 2
		first = next
	}
	started := false
	return func() time.Duration {
		if !started {
			started = true
			return first
		}
		p := next
		next = min(next*3/2, max)
		return p
	}
}

// pollError sorts a failed poll: an unavailable cloud is transient (poll again),
// anything else ends the wait with that error.
func pollError(err error) (bool, string, error) {
	return !errors.Is(err, ErrUnavailable), "", err
}
