package testbed

import (
	"context"
	"fmt"
	"net"
	"time"
)

// WaitServing waits until a driver accepts connections on the unix socket sock.
// The socket file appears at bind, before the listener accepts, so only a dial
// tells. It gives up when exited is closed (the driver stopped: nil never is),
// when ctx ends, or once within has passed.
func WaitServing(ctx context.Context, sock string, exited <-chan struct{}, within time.Duration) error {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			return c.Close()
		}
		select {
		case <-exited:
			return fmt.Errorf("the driver stopped before it served on %s", sock)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the driver on %s: %w", sock, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("the driver did not serve on %s within %s: %v", sock, within, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Run runs fn (a driver's Run) in a goroutine: exited is closed when it returns,
// and wait returns its error.
func Run(fn func() error) (exited <-chan struct{}, wait func() error) {
	ch := make(chan struct{})
	var err error
	go func() { err = fn(); close(ch) }()
	return ch, func() error { <-ch; return err }
}
