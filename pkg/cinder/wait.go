package cinder

import (
	"context"
	"errors"
	"fmt"
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
// first check comes after half of pollInitial, as an immediate one would only see
// the state the request just left, at the price of one API call.
func (c *Client) waitAfterRequest(ctx context.Context, what string, check pollFunc) error {
	return c.poll(ctx, what, true, check)
}

func (c *Client) poll(ctx context.Context, what string, pauseFirst bool, check pollFunc) error {
	delay := c.pollInitial
	last := "nothing yet"
	if pauseFirst {
		// Half a step first: a quick operation (a detach, often) is seen at
		// pollInitial/2; the later checks come at 1.5, 3, 5.25, 8.6 pollInitial.
		if err := sleepCtx(ctx, delay/2); err != nil {
			return fmt.Errorf("%s: gave up waiting: %w", what, err)
		}
	}
	for {
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
		if err := sleepCtx(ctx, delay); err != nil {
			return fmt.Errorf("%s: gave up waiting, last seen %s: %w", what, last, err)
		}
		delay = min(delay*3/2, c.pollMax)
	}
}

// pollError sorts a failed poll: an unavailable cloud is transient (poll again),
// anything else ends the wait with that error.
func pollError(err error) (bool, string, error) {
	return !errors.Is(err, ErrUnavailable), "", err
}
