package testbed

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWaitServing(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(t.TempDir(), "csi.sock")
	stopped := make(chan struct{})
	close(stopped)
	if err := WaitServing(ctx, sock, stopped, time.Minute); err == nil || !strings.Contains(err.Error(), "stopped before it served") {
		t.Errorf("a stopped driver: %v", err)
	}
	if err := WaitServing(ctx, sock, nil, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "within 50ms") {
		t.Errorf("nothing listening: %v", err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for c, err := l.Accept(); err == nil; c, err = l.Accept() {
			c.Close()
		}
	}()
	if err := WaitServing(ctx, sock, nil, time.Minute); err != nil {
		t.Errorf("a listening driver: %v", err)
	}
	exited, wait := Run(func() error { return errors.New("boom") })
	<-exited
	if err := wait(); err == nil || err.Error() != "boom" {
		t.Errorf("Run's wait = %v", err)
	}
}
